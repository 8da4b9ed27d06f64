/**
 * The visual scenario editor (issue 16): the scenario as a diagram (React Flow), laid out by ELK,
 * edited on the canvas (palette, connecting exits, delete, undo/redo, copy/paste) with the
 * operation's full form (the same OperationForm as the «Форма» view) in the side panel, and a call
 * simulated on it. Loaded lazily with its page's «Схема» tab: React Flow and elkjs never weigh on
 * the cabinet's first page.
 */
import {
  ApartmentOutlined,
  CopyOutlined,
  DeleteOutlined,
  ExpandOutlined,
  FlagOutlined,
  RedoOutlined,
  SnippetsOutlined,
  UndoOutlined,
} from '@ant-design/icons';
import {
  Background,
  Controls,
  MiniMap,
  ReactFlow,
  ReactFlowProvider,
  useReactFlow,
  type Connection,
  type Edge,
  type EdgeChange,
  type NodeChange,
  type OnConnectEnd,
  type OnDelete,
} from '@xyflow/react';
import '@xyflow/react/dist/style.css';
import { Button, Space, Spin, Tabs, Tag, Tooltip, Typography } from 'antd';
import { useCallback, useEffect, useMemo, useRef, useState, type DragEvent, type KeyboardEvent } from 'react';
import { useTranslation } from 'react-i18next';
import type { OperationContext } from '../operations/context';
import { LintAlerts } from '../operations/lint';
import { concerns, type Lint } from '../operations/lintText';
import { KINDS, type Kind } from '../operations/model';
import { OperationForm } from '../operations/OperationForm';
import { mergeErrors, validateOperation, type FieldErrors } from '../operations/validate';
import { copyOperations, pasteOperations, type Clip } from './clipboard';
import { addOperation, edgesOf, exitHandles, lintEdges, lintHandle, removeOperations, replaceOperation, setExit, type Doc } from './graph';
import { canRedo, canUndo, push, redo, start, undo, type History } from './history';
import { estimateSize, freeSpot, layout, NODE_WIDTH, type Size, type XY } from './layout';
import { OperationNode, type OperationData, type OperationNodeType } from './OperationNode';
import type { Frame } from './simulation';
import { SimulatorPanel } from './SimulatorPanel';
import { summarize } from './summary';

export interface CanvasProps {
  /** the scenario as the page's form holds it */
  doc: Doc;
  /** a canvas edit: the page writes it into its form (one document, two views, one save) */
  onChange: (doc: Doc) => void;
  scenarioId: number | null;
  editable: boolean;
  warnings: readonly Lint[];
  /** the API's 422 errors by operation index */
  serverErrors: Record<number, FieldErrors>;
  lists: Omit<OperationContext, 'operations' | 'scenarioId' | 'idPrefix'>;
  /** the document differs from the saved scenario (the simulation runs the saved one) */
  unsaved: boolean;
}

const NODE_TYPES = { operation: OperationNode };
const KIND_MIME = 'application/x-vpbx-operation-kind';
/** the clipboard of the canvas: kept while the cabinet is open, shared by its scenarios */
let clipboard: Clip | null = null;
/** the node last built for an operation object: one changed operation re-renders one node */
const NODE_CACHE = new WeakMap<object, { dataDeps: unknown[]; nodeDeps: unknown[]; node: OperationNodeType }>();

function isTyping(target: EventTarget | null): boolean {
  if (!(target instanceof HTMLElement)) return false;
  return target.isContentEditable || ['INPUT', 'TEXTAREA', 'SELECT'].includes(target.tagName);
}

function Palette({ onAdd }: { onAdd: (kind: Kind) => void }) {
  const { t } = useTranslation();
  return (
    <div style={{ width: 150, flex: 'none', borderRight: '1px solid #f0f0f0', padding: 8, overflowY: 'auto' }} role="toolbar" aria-label={t('scenarios.canvas.palette')}>
      <Typography.Text strong>{t('scenarios.canvas.palette')}</Typography.Text>
      <Typography.Paragraph type="secondary" style={{ fontSize: 11, marginBottom: 8 }}>
        {t('scenarios.canvas.paletteHelp')}
      </Typography.Paragraph>
      <Space orientation="vertical" size={4} style={{ width: '100%' }}>
        {KINDS.map((kind) => (
          <Button
            key={kind}
            size="small"
            block
            draggable
            onDragStart={(event: DragEvent) => {
              event.dataTransfer.setData(KIND_MIME, kind);
              event.dataTransfer.effectAllowed = 'copy';
            }}
            onClick={() => onAdd(kind)}
            aria-label={t('scenarios.canvas.add', { kind: t(`scenarios.kinds.${kind}`) })}
            style={{ textAlign: 'left', justifyContent: 'flex-start', whiteSpace: 'normal', height: 'auto', minHeight: 24, lineHeight: '16px', padding: '2px 6px', fontSize: 12 }}
          >
            {t(`scenarios.kinds.${kind}`)}
          </Button>
        ))}
      </Space>
    </div>
  );
}

function Canvas({ doc: outside, onChange, scenarioId, editable, warnings, serverErrors, lists, unsaved }: CanvasProps) {
  const { t } = useTranslation();
  const flow = useReactFlow();
  const [history, setHistory] = useState<History<Doc>>(() => start(outside));
  const doc = history.present;
  const [positions, setPositions] = useState<Record<string, XY>>({});
  const [measured, setMeasured] = useState<Record<string, Size>>({});
  const [selected, setSelected] = useState<string[]>([]);
  const [selectedEdges, setSelectedEdges] = useState<string[]>([]);
  const [laidOut, setLaidOut] = useState(false);
  const [layoutWanted, setLayoutWanted] = useState(true);
  const [frame, setFrame] = useState<Frame | null>(null);
  const [panel, setPanel] = useState('operation');
  const wrapper = useRef<HTMLDivElement>(null);

  // What the canvas wrote comes back from the form a little later (antd batches its watchers), so
  // the documents written and not yet seen back are kept: their echo is not news. Anything else is
  // a change made elsewhere (the «Форма» view, a reload after 412): that is the new start.
  const [seen, setSeen] = useState(outside);
  const [pending, setPending] = useState<string[]>([]);
  if (seen !== outside) {
    setSeen(outside);
    const json = JSON.stringify(outside);
    const echo = pending.indexOf(json);
    if (echo >= 0) setPending(pending.slice(echo + 1));
    else if (json !== JSON.stringify(history.present)) {
      setHistory(start(outside));
      setPending([]);
    }
  }
  const write = useCallback(
    (next: Doc) => {
      setPending((current) => [...current.slice(-20), JSON.stringify(next)]);
      onChange(next);
    },
    [onChange],
  );

  const commit = useCallback(
    (next: Doc, tag: string | null = null) => {
      setHistory((current) => push(current, next, tag));
      write(next);
    },
    [write],
  );
  const travel = (move: (h: History<Doc>) => History<Doc>) => {
    const next = move(history);
    if (next === history) return;
    setHistory(next);
    write(next.present);
  };

  // node ids are the operations' keys (a key typed twice: the second gets an id of its own)
  const ids = useMemo(() => {
    const seen = new Set<string>();
    return doc.operations.map((op, index) => {
      const id = seen.has(op.key) ? `${op.key}#dup${index}` : op.key;
      seen.add(op.key);
      return id;
    });
  }, [doc]);

  // automatic layout: on load (with the sizes the browser measured) and on demand
  const allMeasured = ids.length > 0 && ids.every((id) => measured[id] !== undefined);
  useEffect(() => {
    if (!layoutWanted || !allMeasured) return;
    let cancelled = false;
    void layout(doc, measured).then((found) => {
      if (cancelled) return;
      setPositions((current) => ({ ...current, ...found }));
      setLaidOut(true);
      setLayoutWanted(false);
      window.setTimeout(() => void flow.fitView({ padding: 0.1, maxZoom: 1.2, duration: 0 }), 50);
    });
    return () => {
      cancelled = true;
    };
    // measured is read once every node has been measured; later resizes do not lay out again
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [layoutWanted, allMeasured, ids]);

  const edges = useMemo(() => edgesOf(doc), [doc]);
  const byKey = useMemo(() => {
    const map = new Map<string, { lint: Lint[]; exitLint: Record<string, Lint[]> }>();
    for (const op of doc.operations) {
      if (map.has(op.key)) continue;
      const mine = warnings.filter((w) => concerns(w, op.key, scenarioId));
      const exitLint: Record<string, Lint[]> = {};
      const lint: Lint[] = [];
      for (const warning of mine) {
        const handle = lintHandle(op, warning);
        if (handle === null) lint.push(warning);
        else (exitLint[handle] ??= []).push(warning);
      }
      map.set(op.key, { lint: [...lint, ...Object.values(exitLint).flat()], exitLint });
    }
    return map;
  }, [doc, warnings, scenarioId]);
  const errorsAt = useCallback(
    (index: number) => {
      const op = doc.operations[index];
      return op === undefined ? {} : mergeErrors(validateOperation(op, doc.operations, t), serverErrors[index] ?? {});
    },
    [doc, serverErrors, t],
  );

  // which operations have errors: once per document, not per frame of a drag
  const invalidAt = useMemo(() => doc.operations.map((_, index) => Object.keys(errorsAt(index)).length > 0), [doc, errorsAt]);

  // React Flow's nodes, rebuilt only where something of theirs changed (dragging one node re-renders one)
  const nodes = useMemo(() => {
    // operations that came without a place (from the form view, a reload): under the others
    const bottom = Math.max(0, ...Object.values(positions).map((p) => p.y + 160));
    let unplaced = 0;
    const passedFrom = new Map<string, string>();
    for (const edgeIdPassed of frame?.edges ?? []) {
      const edge = edges.find((e) => e.id === edgeIdPassed);
      if (edge) passedFrom.set(edge.source, edge.sourceHandle);
    }
    const out = doc.operations.map((op, index) => {
      const id = ids[index] ?? op.key;
      const info = byKey.get(op.key) ?? { lint: [], exitLint: {} };
      const sim: OperationData['sim'] = frame === null ? null : frame.node === id ? 'current' : frame.nodes.includes(id) ? 'visited' : null;
      const invalid = invalidAt[index] ?? false;
      const position = positions[id] ?? { x: (unplaced++ % 4) * (NODE_WIDTH + 40), y: bottom + Math.floor(index / 4) * 180 };
      // what the node shows, apart from where it is: kept while only its place, size or selection changes
      const dataDeps = [id, doc.entry === op.key, info, sim, passedFrom.get(id) ?? null, invalid, lists];
      const nodeDeps = [position, measured[id], selected.includes(id)];
      const old = NODE_CACHE.get(op);
      const sameAs = (a: unknown[], b: unknown[]) => a.length === b.length && a.every((dep, i) => dep === b[i]);
      const sameData = old !== undefined && sameAs(old.dataDeps, dataDeps);
      if (old !== undefined && sameData && sameAs(old.nodeDeps, nodeDeps)) return old.node;
      const data: OperationData =
        old !== undefined && sameData
          ? old.node.data
          : {
              op,
              entry: doc.entry === op.key,
              summary: summarize(op, lists, t),
              handles: exitHandles(op),
              lint: info.lint,
              exitLint: info.exitLint,
              invalid,
              sim,
              simExit: passedFrom.get(id) ?? null,
            };
      const node: OperationNodeType = {
        id,
        type: 'operation',
        position,
        ...(measured[id] ? { measured: measured[id] } : {}),
        selected: selected.includes(id),
        className: sim === null ? undefined : `sim-${sim}`,
        data,
      };
      NODE_CACHE.set(op, { dataDeps, nodeDeps, node });
      return node;
    });
    return out;
  }, [doc, ids, byKey, frame, edges, invalidAt, positions, measured, selected, lists, t]);

  const warned = useMemo(() => lintEdges(warnings.filter((w) => w.scenario_id === null || w.scenario_id === scenarioId), edges), [warnings, edges, scenarioId]);
  const flowEdges: Edge[] = useMemo(
    () =>
      edges.map((edge) => {
        const passed = frame?.edges.includes(edge.id) ?? false;
        const warning = warned.has(edge.id);
        return {
          id: edge.id,
          source: edge.source,
          target: edge.target,
          sourceHandle: edge.sourceHandle,
          targetHandle: 'in',
          label: warning ? `⚠ ${edge.exit}` : edge.exit,
          selected: selectedEdges.includes(edge.id),
          animated: passed,
          className: [passed ? 'sim-passed' : '', warning ? 'lint-warning' : ''].join(' ').trim() || undefined,
          style: passed ? { stroke: '#1677ff', strokeWidth: 3 } : warning ? { stroke: '#faad14', strokeWidth: 2, strokeDasharray: '6 3' } : undefined,
          labelStyle: { fontSize: 11, fontWeight: passed ? 600 : 400 },
          labelBgStyle: { fill: passed ? '#bae0ff' : warning ? '#fffbe6' : '#fff' },
          ariaLabel: `${edge.source} ${edge.exit} → ${edge.target}${warning ? ` (${t('scenarios.lintCodes.endless_loop')})` : ''}`,
        };
      }),
    [edges, frame, selectedEdges, warned, t],
  );

  const onNodesChange = useCallback((changes: NodeChange<OperationNodeType>[]) => {
    const moved: Record<string, XY> = {};
    const sizes: Record<string, Size> = {};
    const picks: [string, boolean][] = [];
    for (const change of changes) {
      if (change.type === 'position' && change.position) moved[change.id] = change.position;
      else if (change.type === 'dimensions' && change.dimensions) sizes[change.id] = change.dimensions;
      else if (change.type === 'select') picks.push([change.id, change.selected]);
    }
    if (Object.keys(moved).length > 0) setPositions((current) => ({ ...current, ...moved }));
    if (Object.keys(sizes).length > 0) setMeasured((current) => ({ ...current, ...sizes }));
    if (picks.length > 0)
      setSelected((current) => {
        const set = new Set(current);
        for (const [id, on] of picks) {
          if (on) set.add(id);
          else set.delete(id);
        }
        return [...set];
      });
  }, []);
  const onEdgesChange = useCallback((changes: EdgeChange[]) => {
    const picks = changes.filter((change) => change.type === 'select');
    if (picks.length === 0) return;
    setSelectedEdges((current) => {
      const set = new Set(current);
      for (const change of picks) {
        if (change.selected) set.add(change.id);
        else set.delete(change.id);
      }
      return [...set];
    });
  }, []);

  const remove = (nodeIds: string[], edgeIds: string[]) => {
    const keys = new Set(nodeIds.map((id) => doc.operations[ids.indexOf(id)]?.key).filter((key): key is string => key !== undefined));
    let next = removeOperations(doc, keys);
    for (const id of edgeIds) {
      const edge = edges.find((e) => e.id === id);
      if (edge !== undefined && !keys.has(edge.source)) next = setExit(next, edge.source, edge.sourceHandle, null);
    }
    if (next !== doc) commit(next);
    setSelected([]);
    setSelectedEdges([]);
  };
  const onDelete: OnDelete = ({ nodes: goneNodes, edges: goneEdges }) =>
    remove(
      goneNodes.map((n) => n.id),
      goneEdges.map((e) => e.id),
    );
  const onConnect = (connection: Connection) => {
    if (!connection.sourceHandle || connection.target.includes('#dup')) return;
    commit(setExit(doc, connection.source, connection.sourceHandle, connection.target));
  };
  // an exit dropped anywhere on a node (not only on its entry dot) links to that node
  const onConnectEnd: OnConnectEnd = (event, state) => {
    if (state.isValid === true || state.fromHandle === null || state.fromHandle.type !== 'source') return;
    const point = 'changedTouches' in event ? event.changedTouches[0] : event;
    if (point === undefined) return;
    const target = document.elementFromPoint(point.clientX, point.clientY)?.closest('.react-flow__node')?.getAttribute('data-id');
    if (!target || target.includes('#dup') || !state.fromHandle.id) return;
    commit(setExit(doc, state.fromNode.id, state.fromHandle.id, target));
  };

  const place = (kind: Kind, at: XY | null) => {
    const added = addOperation(doc, kind);
    let where = at;
    if (where === null) {
      const box = wrapper.current?.getBoundingClientRect();
      const center = box ? flow.screenToFlowPosition({ x: box.left + box.width / 2, y: box.top + 40 }) : { x: 0, y: 0 };
      const op = added.doc.operations[added.doc.operations.length - 1];
      const size = op ? estimateSize(op) : { width: NODE_WIDTH, height: 100 };
      const taken = nodes.map((node) => ({ ...node.position, ...(node.measured?.width && node.measured.height ? { width: node.measured.width, height: node.measured.height } : estimateSize(node.data.op)) }));
      where = freeSpot({ x: center.x - size.width / 2, y: center.y }, size, taken);
    }
    setPositions((current) => ({ ...current, [added.key]: where }));
    setSelected([added.key]);
    setSelectedEdges([]);
    setPanel('operation');
    commit(added.doc);
  };
  const onDrop = (event: DragEvent) => {
    const kind = event.dataTransfer.getData(KIND_MIME) as Kind;
    if (!KINDS.includes(kind)) return;
    event.preventDefault();
    const at = flow.screenToFlowPosition({ x: event.clientX, y: event.clientY });
    place(kind, { x: at.x - NODE_WIDTH / 2, y: at.y - 20 });
  };

  const selectedKeys = selected.map((id) => doc.operations[ids.indexOf(id)]?.key).filter((key): key is string => key !== undefined);
  const copy = () => {
    const clip = copyOperations(doc, selectedKeys);
    if (clip !== null) clipboard = clip;
  };
  const paste = () => {
    if (clipboard === null) return;
    const { doc: next, renamed } = pasteOperations(doc, clipboard);
    setPositions((current) => ({
      ...current,
      ...Object.fromEntries(Object.entries(renamed).map(([old, key]) => [key, { x: (current[old]?.x ?? 0) + 40, y: (current[old]?.y ?? 0) + 40 }])),
    }));
    setSelected(Object.values(renamed));
    setSelectedEdges([]);
    commit(next);
  };
  const onKeyDown = (event: KeyboardEvent) => {
    if (isTyping(event.target)) return;
    const mod = event.ctrlKey || event.metaKey;
    if (!mod) return;
    const key = event.key.toLowerCase();
    if (key === 'z' && editable) {
      event.preventDefault();
      travel(event.shiftKey ? redo : undo);
    } else if (key === 'y' && editable) {
      event.preventDefault();
      travel(redo);
    } else if (key === 'c') {
      copy();
    } else if (key === 'v' && editable) {
      event.preventDefault();
      paste();
    }
  };

  const single = selected.length === 1 ? ids.indexOf(selected[0] ?? '') : -1;
  const current = single >= 0 ? doc.operations[single] : undefined;
  const elsewhere = useMemo(() => {
    const keysOfDoc = new Set(doc.operations.map((op) => op.key));
    return warnings.filter((w) => !(w.operation !== null && keysOfDoc.has(w.operation) && concerns(w, w.operation, scenarioId)));
  }, [doc, warnings, scenarioId]);

  // the side panel does not re-render while a node is dragged or the view moves
  const operationPanel = useMemo(
    () =>
      current !== undefined ? (
        <div role="group" aria-label={t('scenarios.canvas.nodeLabel', { key: current.key })} data-testid="side-panel">
          <Space style={{ marginBottom: 8 }} wrap>
            {doc.entry === current.key ? (
              <Tag color="green" icon={<FlagOutlined />}>
                {t('scenarios.canvas.entry')}
              </Tag>
            ) : (
              editable && (
                <Button size="small" icon={<FlagOutlined />} onClick={() => commit({ ...doc, entry: current.key })}>
                  {t('scenarios.canvas.makeEntry')}
                </Button>
              )
            )}
            {editable && (
              <Button size="small" danger icon={<DeleteOutlined />} onClick={() => remove(selected, [])}>
                {t('common.remove')}
              </Button>
            )}
          </Space>
          <OperationForm
            value={current}
            errors={errorsAt(single)}
            ctx={{ ...lists, operations: doc.operations, scenarioId, idPrefix: `canvas-${single}` }}
            lint={byKey.get(current.key)?.lint ?? []}
            onChange={(next) => {
              const renamed = next.key !== current.key;
              const updated = replaceOperation(doc, single, next);
              if (renamed && !updated.operations.some((op, i) => i !== single && op.key === next.key)) {
                const oldId = ids[single] ?? current.key;
                setPositions((p) => ({ ...p, [next.key]: p[oldId] ?? { x: 0, y: 0 } }));
                setSelected([next.key]);
              }
              commit(updated, `edit:${single}`);
            }}
          />
        </div>
      ) : (
        <Space orientation="vertical" style={{ width: '100%' }}>
          {selected.length > 1 ? (
            <Typography.Text>{t('scenarios.canvas.selected', { count: selected.length })}</Typography.Text>
          ) : (
            <Typography.Paragraph type="secondary">{t('scenarios.canvas.selectHint')}</Typography.Paragraph>
          )}
          {elsewhere.length > 0 && (
            <>
              <Typography.Text strong>{t('scenarios.canvas.otherWarnings')}</Typography.Text>
              <LintAlerts warnings={elsewhere} prefix />
            </>
          )}
        </Space>
      ),
    // eslint-disable-next-line react-hooks/exhaustive-deps -- remove and commit change with doc
    [current, single, doc, ids, errorsAt, byKey, lists, scenarioId, editable, selected, elsewhere, t, commit],
  );

  return (
    <div
      style={{ display: 'flex', height: 'max(620px, calc(100vh - 140px))', border: '1px solid #f0f0f0', borderRadius: 8, background: '#fff' }}
      onKeyDown={onKeyDown}
      data-testid="scenario-canvas"
    >
      {editable && <Palette onAdd={(kind) => place(kind, null)} />}
      <div style={{ flex: 1, minWidth: 0, display: 'flex', flexDirection: 'column' }}>
        <Space wrap style={{ padding: 6, borderBottom: '1px solid #f0f0f0' }}>
          {editable && (
            <>
              <Tooltip title={t('scenarios.canvas.undo')}>
                <Button size="small" icon={<UndoOutlined />} aria-label={t('scenarios.canvas.undo')} disabled={!canUndo(history)} onClick={() => travel(undo)} />
              </Tooltip>
              <Tooltip title={t('scenarios.canvas.redo')}>
                <Button size="small" icon={<RedoOutlined />} aria-label={t('scenarios.canvas.redo')} disabled={!canRedo(history)} onClick={() => travel(redo)} />
              </Tooltip>
              <Tooltip title={t('scenarios.canvas.copy')}>
                <Button size="small" icon={<CopyOutlined />} aria-label={t('scenarios.canvas.copy')} disabled={selectedKeys.length === 0} onClick={copy} />
              </Tooltip>
              <Tooltip title={t('scenarios.canvas.paste')}>
                <Button size="small" icon={<SnippetsOutlined />} aria-label={t('scenarios.canvas.paste')} onClick={paste} />
              </Tooltip>
              <Tooltip title={t('scenarios.canvas.deleteSelected')}>
                <Button
                  size="small"
                  danger
                  icon={<DeleteOutlined />}
                  aria-label={t('scenarios.canvas.deleteSelected')}
                  disabled={selected.length === 0 && selectedEdges.length === 0}
                  onClick={() => remove(selected, selectedEdges)}
                />
              </Tooltip>
            </>
          )}
          <Tooltip title={t('scenarios.canvas.fit')}>
            <Button size="small" icon={<ExpandOutlined />} aria-label={t('scenarios.canvas.fit')} onClick={() => void flow.fitView({ padding: 0.1, maxZoom: 1.2 })} />
          </Tooltip>
          <Tooltip title={t('scenarios.canvas.relayout')}>
            <Button size="small" icon={<ApartmentOutlined />} aria-label={t('scenarios.canvas.relayout')} onClick={() => setLayoutWanted(true)} />
          </Tooltip>
        </Space>
        <div
          ref={wrapper}
          style={{ flex: 1, position: 'relative' }}
          onDragOver={(event) => {
            if (event.dataTransfer.types.includes(KIND_MIME)) {
              event.preventDefault();
              event.dataTransfer.dropEffect = 'copy';
            }
          }}
          onDrop={onDrop}
          aria-label={t('scenarios.canvas.canvasLabel')}
          role="region"
        >
          {!laidOut && ids.length > 0 && (
            <div style={{ position: 'absolute', inset: 0, display: 'grid', placeItems: 'center', zIndex: 10, background: '#fff' }}>
              <Spin />
            </div>
          )}
          <ReactFlow<OperationNodeType>
            nodes={nodes}
            edges={flowEdges}
            nodeTypes={NODE_TYPES}
            onNodesChange={onNodesChange}
            onEdgesChange={onEdgesChange}
            onConnect={editable ? onConnect : undefined}
            onConnectEnd={editable ? onConnectEnd : undefined}
            onDelete={editable ? onDelete : undefined}
            nodesConnectable={editable}
            deleteKeyCode={editable ? ['Delete', 'Backspace'] : null}
            multiSelectionKeyCode={['Shift', 'Meta', 'Control']}
            minZoom={0.1}
            maxZoom={2}
            proOptions={{ hideAttribution: true }}
          >
            <Background gap={16} />
            <Controls showInteractive={false} />
            <MiniMap pannable zoomable style={{ width: 140, height: 100 }} />
          </ReactFlow>
        </div>
      </div>
      <div style={{ width: 400, flex: 'none', borderLeft: '1px solid #f0f0f0', overflowY: 'auto', padding: '0 12px 12px' }}>
        <Tabs
          activeKey={panel}
          onChange={setPanel}
          items={[
            {
              key: 'operation',
              label: t('scenarios.canvas.operationTab'),
              children: operationPanel,
            },
            {
              key: 'simulate',
              label: t('scenarios.canvas.simulateTab'),
              children: <SimulatorPanel scenarioId={scenarioId} unsaved={unsaved} edges={edges} employees={lists.employees} onFrame={setFrame} />,
            },
          ]}
        />
      </div>
    </div>
  );
}

export default function ScenarioCanvas(props: CanvasProps) {
  return (
    <ReactFlowProvider>
      <Canvas {...props} />
    </ReactFlowProvider>
  );
}
