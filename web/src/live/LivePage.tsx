import { Alert, Badge, Card, Col, List, Row, Space, Table, Tag, Typography } from 'antd';
import type { ColumnsType } from 'antd/es/table';
import { useMemo } from 'react';
import { useTranslation } from 'react-i18next';
import { useMe } from '../auth/me';
import { Since, Until } from './clock';
import { currentCalls, employeeState, type EmployeeState, type LiveCall } from './reducer';
import { SuperviseButtons } from './SuperviseButtons';
import { canSupervise } from './supervise';
import { useLive } from './useLive';

const BADGES: Record<EmployeeState, 'processing' | 'warning' | 'success' | 'default' | 'error'> = {
  talking: 'processing',
  ringing: 'warning',
  wrap_up: 'warning',
  off_schedule: 'error',
  registered: 'success',
  offline: 'default',
};

/** Above this many calls the table draws only the rows in view (300 rows of antd's table took
 * Chromium seconds to draw and to update). */
const VIRTUAL_FROM = 50;

/** CDR-4: the account's current calls and its employees' states, pushed by the server. */
export default function LivePage() {
  const { t } = useTranslation();
  const { state, lost } = useLive();
  const me = useMe(true);
  const role = me.data?.role;
  const name = useMemo(() => {
    const names = new Map(state.staff.map((m) => [m.employee_id, m.name]));
    return (id: number) => names.get(id) ?? `#${id}`;
  }, [state.staff]);
  const calls = useMemo(() => currentCalls(state), [state]);

  const columns = useMemo(() => {
    const shown: ColumnsType<LiveCall> = [
      { key: 'caller', title: t('live.columns.caller'), dataIndex: 'caller' },
      { key: 'number', title: t('live.columns.number'), dataIndex: 'number' },
      { key: 'step', title: t('live.columns.step'), dataIndex: 'step' },
      {
        key: 'talker',
        title: t('live.columns.talker'),
        render: (_, call) =>
          call.talker !== null ? (
            name(call.talker)
          ) : call.ringing.length > 0 ? (
            <Typography.Text type="secondary">
              {t('live.ringing', { names: call.ringing.map(name).join(', ') })}
            </Typography.Text>
          ) : null,
      },
      {
        key: 'duration',
        title: t('live.columns.duration'),
        render: (_, call) => <Since since={call.started_at} />,
      },
      { key: 'queue', title: t('live.columns.queue'), render: (_, call) => call.queue_place ?? '—' },
    ];
    if (canSupervise(role)) {
      shown.push({
        key: 'supervise',
        title: t('live.supervise.column'),
        render: (_, call) => <SuperviseButtons call={call} nameOf={name} />,
      });
    }
    return shown;
  }, [t, name, role]);

  return (
    <Space orientation="vertical" style={{ width: '100%' }}>
      <Typography.Title level={2}>{t('live.title')}</Typography.Title>
      {lost && <Alert type="warning" showIcon role="alert" title={t('live.lost')} />}
      {!lost && state.seq === null && <Alert type="info" title={t('live.connecting')} />}
      <Row gutter={16}>
        <Col xs={24} xxl={16}>
          <Card title={t('live.calls')} data-testid="live-calls" data-calls={calls.length}>
            <Table<LiveCall>
              aria-label={t('live.calls')}
              rowKey="call_id"
              size="small"
              pagination={false}
              columns={columns}
              dataSource={calls}
              {...(calls.length > VIRTUAL_FROM ? { virtual: true, scroll: { y: 640 } } : {})}
              locale={{ emptyText: t('live.noCalls') }}
            />
          </Card>
        </Col>
        <Col xs={24} xxl={8}>
          <Card title={t('live.employees')}>
            <List
              aria-label={t('live.employees')}
              size="small"
              dataSource={state.staff}
              renderItem={(member) => {
                const status = employeeState(state, member);
                const until = status === 'wrap_up' ? state.until[member.employee_id] : undefined;
                return (
                  <List.Item data-testid={`employee-${member.employee_id}`} data-state={status}>
                    <Space>
                      <Badge status={BADGES[status]} />
                      {member.name}
                    </Space>
                    <Tag>
                      {t(`live.states.${status}`)}
                      {until !== undefined && (
                        <>
                          {' '}
                          <Until until={until} />
                        </>
                      )}
                    </Tag>
                  </List.Item>
                );
              }}
            />
          </Card>
        </Col>
      </Row>
    </Space>
  );
}
