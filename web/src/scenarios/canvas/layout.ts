/**
 * Automatic layout (ELK's layered algorithm, top to bottom, in the document's order). elkjs is
 * about 1.6 MB: it is imported when a layout is first asked for, never with the cabinet's first page.
 */
import type { ElkNode } from 'elkjs/lib/elk-api';
import { edgesOf, exitHandles, type Doc } from './graph';

export interface XY {
  x: number;
  y: number;
}
export interface Size {
  width: number;
  height: number;
}

export const NODE_WIDTH = 260;

/** A node's size before the browser measured it: header, title, summary and the row of exit pills. */
export function estimateSize(op: Doc['operations'][number]): Size {
  const pills = exitHandles(op).map((h) => Math.min(h.exit.length, 14) * 6.5 + 11);
  const row = pills.reduce((sum, width) => sum + width + 3, 16);
  return { width: Math.max(NODE_WIDTH, Math.ceil(row)), height: 78 + (op.title ? 18 : 0) + (pills.length > 0 ? 22 : 0) };
}

/**
 * Where a new node of `size` goes: at `wanted`, or straight below it, past every node it would
 * cover (the palette adds at the middle of the view, one under the other).
 */
export function freeSpot(wanted: XY, size: Size, taken: readonly (XY & Size)[], gap = 30): XY {
  const spot = { ...wanted };
  for (let guard = 0; guard < 1000; guard += 1) {
    const hit = taken.find(
      (box) => spot.x < box.x + box.width + gap && box.x < spot.x + size.width + gap && spot.y < box.y + box.height + gap && box.y < spot.y + size.height + gap,
    );
    if (hit === undefined) return spot;
    spot.y = hit.y + hit.height + gap;
  }
  return spot;
}

/** The graph handed to ELK: every operation with its size, every linked exit. */
export function elkGraph(doc: Doc, sizes: Record<string, Size | undefined> = {}): ElkNode {
  return {
    id: 'scenario',
    layoutOptions: {
      'elk.algorithm': 'layered',
      'elk.direction': 'DOWN',
      'elk.spacing.nodeNode': '40',
      'elk.layered.spacing.nodeNodeBetweenLayers': '70',
      'elk.spacing.componentComponent': '60',
      'elk.layered.considerModelOrder.strategy': 'NODES_AND_EDGES',
      'elk.layered.nodePlacement.strategy': 'BRANDES_KOEPF',
    },
    children: doc.operations
      .filter((op, index) => doc.operations.findIndex((other) => other.key === op.key) === index)
      .map((op) => ({ id: op.key, ...(sizes[op.key] ?? estimateSize(op)) })),
    edges: edgesOf(doc)
      .filter((edge) => edge.source !== edge.target)
      .map((edge) => ({ id: edge.id, sources: [edge.source], targets: [edge.target] })),
  };
}

let engine: Promise<{ layout: (graph: ElkNode) => Promise<ElkNode> }> | null = null;

function elk() {
  engine ??= import('elkjs/lib/elk.bundled.js').then(({ default: ELK }) => new ELK());
  return engine;
}

/** The positions ELK gives the operations (top-left corners). */
export async function layout(doc: Doc, sizes: Record<string, Size | undefined> = {}): Promise<Record<string, XY>> {
  const done = await (await elk()).layout(elkGraph(doc, sizes));
  return Object.fromEntries((done.children ?? []).map((child) => [child.id, { x: child.x ?? 0, y: child.y ?? 0 }]));
}
