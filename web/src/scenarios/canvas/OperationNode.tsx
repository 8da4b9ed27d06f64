/** One operation on the diagram: its kind, key, title and key settings, the entry mark, its exits. */
import { WarningOutlined } from '@ant-design/icons';
import { Handle, Position, type Node, type NodeProps } from '@xyflow/react';
import { Tag, Tooltip } from 'antd';
import { memo } from 'react';
import { useTranslation } from 'react-i18next';
import { useLintText, type Lint } from '../operations/lintText';
import type { Operation } from '../operations/model';
import type { ExitHandle } from './graph';
import { NODE_WIDTH } from './layout';

export interface OperationData extends Record<string, unknown> {
  op: Operation;
  entry: boolean;
  summary: string[];
  handles: ExitHandle[];
  /** warnings about the operation as a whole, and by the exit (handle id) they concern */
  lint: Lint[];
  exitLint: Record<string, Lint[]>;
  invalid: boolean;
  sim: 'current' | 'visited' | null;
  simExit: string | null;
}

export type OperationNodeType = Node<OperationData, 'operation'>;

const KIND_COLOR: Record<string, string> = {
  menu: '#722ed1',
  forward: '#1677ff',
  voicemail: '#13c2c2',
  info: '#8c8c8c',
  extension: '#2f54eb',
  personal_manager: '#eb2f96',
  auth: '#fa8c16',
  insert: '#595959',
  interactive: '#a0d911',
  visit: '#faad14',
  region: '#52c41a',
  segment: '#fa541c',
};

/** An exit's name on its pill: short enough that a menu's fifteen exits fit one row. */
function pillText(exit: string): string {
  if (exit === 'extension_input') return 'ext_input';
  return exit.length > 14 ? `${exit.slice(0, 13)}…` : exit;
}

function OperationNodeView({ data, selected }: NodeProps<OperationNodeType>) {
  const { t } = useTranslation();
  const lintText = useLintText();
  const { op, sim } = data;
  const color = KIND_COLOR[op.kind] ?? '#1677ff';
  const border = data.invalid ? '#ff4d4f' : sim === 'current' ? '#1677ff' : selected ? '#4096ff' : '#d9d9d9';
  const exitName = (exit: string) => (/^[0-9*#]$/.test(exit) ? t('scenarios.exitNames.key', { key: exit }) : t(`scenarios.exitNames.${exit}`, { defaultValue: exit }));
  return (
    <div
      role="group"
      aria-label={t('scenarios.canvas.nodeLabel', { key: op.key })}
      data-kind={op.kind}
      style={{
        minWidth: NODE_WIDTH,
        background: sim === 'current' ? '#e6f4ff' : sim === 'visited' ? '#f0f8ff' : '#fff',
        border: `${sim !== null || selected || data.invalid ? 2 : 1}px solid ${border}`,
        borderRadius: 8,
        boxShadow: sim === 'current' ? '0 0 0 4px rgba(22,119,255,0.25)' : '0 1px 2px rgba(0,0,0,0.08)',
        fontSize: 12,
      }}
    >
      <Handle type="target" position={Position.Top} id="in" style={{ width: 12, height: 12, background: '#8c8c8c' }} />
      <div style={{ display: 'flex', alignItems: 'center', gap: 6, padding: '4px 8px', borderBottom: '1px solid #f0f0f0', borderLeft: `4px solid ${color}`, borderTopLeftRadius: 7 }}>
        <span style={{ fontWeight: 600, flex: 1, overflow: 'hidden', textOverflow: 'ellipsis', whiteSpace: 'nowrap' }}>{t(`scenarios.kinds.${op.kind}`)}</span>
        {data.entry && (
          <Tag color="green" style={{ marginInlineEnd: 0 }} data-testid="entry">
            {t('scenarios.canvas.entry')}
          </Tag>
        )}
        {data.lint.length > 0 && (
          <Tooltip title={data.lint.map((w) => lintText(w)).join('\n')}>
            <Tag color="warning" icon={<WarningOutlined />} style={{ marginInlineEnd: 0 }} data-testid="node-lint">
              {data.lint.length}
            </Tag>
          </Tooltip>
        )}
      </div>
      <div style={{ padding: '4px 8px' }}>
        <div>
          <code data-testid="node-key">{op.key}</code>
          {op.title && <span style={{ marginLeft: 6, color: '#595959' }}>{op.title}</span>}
        </div>
        {data.summary.map((line, index) => (
          <div key={index} style={{ color: '#8c8c8c', overflow: 'hidden', textOverflow: 'ellipsis', whiteSpace: 'nowrap' }}>
            {line}
          </div>
        ))}
      </div>
      {data.handles.length > 0 && (
        // one row along the bottom border: every edge leaves the node where its exit is named
        <div style={{ display: 'flex', gap: 3, padding: '2px 8px 0', whiteSpace: 'nowrap' }}>
          {data.handles.map((handle) => {
            const warnings = data.exitLint[handle.id] ?? [];
            const linked = handle.target !== null;
            const passed = data.simExit === handle.id;
            const label = handle.id.startsWith('exit:') ? exitName(handle.exit) : handle.exit;
            const title = [
              linked ? t('scenarios.canvas.exitLinked', { exit: label, target: handle.target }) : t('scenarios.canvas.exitUnlinked', { exit: label }),
              ...warnings.map((w) => lintText(w)),
            ].join('\n');
            return (
              <Tooltip key={handle.id} title={title}>
                <span
                  data-testid={`exit-${handle.id}`}
                  data-exit={handle.exit}
                  data-lint={warnings.length > 0 ? 'warning' : undefined}
                  style={{
                    position: 'relative',
                    padding: '1px 4px 5px',
                    lineHeight: '14px',
                    borderRadius: '4px 4px 0 0',
                    borderBottom: 'none',
                    border: `1px solid ${warnings.length > 0 ? '#faad14' : passed ? '#1677ff' : linked ? '#91caff' : '#d9d9d9'}`,
                    background: warnings.length > 0 ? '#fffbe6' : passed ? '#bae0ff' : linked ? '#e6f4ff' : '#fafafa',
                    fontSize: 11,
                    overflow: 'visible',
                    whiteSpace: 'nowrap',
                  }}
                >
                  {pillText(handle.exit)}
                  <Handle
                    type="source"
                    position={Position.Bottom}
                    id={handle.id}
                    style={{ width: 10, height: 10, bottom: -6, background: warnings.length > 0 ? '#faad14' : linked ? '#1677ff' : '#bfbfbf' }}
                  />
                </span>
              </Tooltip>
            );
          })}
        </div>
      )}
    </div>
  );
}

export const OperationNode = memo(OperationNodeView);
