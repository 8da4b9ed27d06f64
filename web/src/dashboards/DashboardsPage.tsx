import { QuestionCircleOutlined } from '@ant-design/icons';
import { Alert, Card, Col, DatePicker, Row, Segmented, Select, Space, Statistic, Table, Tooltip, Typography } from 'antd';
import type { ColumnsType } from 'antd/es/table';
import dayjs from 'dayjs';
import { useTranslation } from 'react-i18next';
import { useMe } from '../auth/me';
import { useAddressParams, type AddressPatch } from '../common/addressState';
import { ErrorState } from '../common/ErrorState';
import { useLookups } from '../reports/api';
import { clock } from '../reports/filters';
import { useDashboard, type DashboardOut } from './api';
import { BarChart, type Series } from './charts';
import { bucketLabels, DASHBOARD_TABS, PRESETS, readState, toQuery, type Bucket, type DashboardState } from './period';

type EmployeeRow = DashboardOut['employees'][number];

const COLORS = {
  answered: '#52c41a',
  missed: '#faad14',
  lost: '#f5222d',
  other: '#bfbfbf',
  avg: '#1677ff',
  p90: '#722ed1',
};

function Label({ text, hint }: { text: string; hint?: string }) {
  if (hint === undefined) return <>{text}</>;
  return (
    <Tooltip title={hint}>
      <span>
        {text} <QuestionCircleOutlined aria-label={hint} />
      </span>
    </Tooltip>
  );
}

function Filters({ state, update, numbers }: { state: DashboardState; update: (patch: AddressPatch) => void; numbers: Map<number, string> | null }) {
  const { t } = useTranslation();
  return (
    <Space wrap data-testid="dashboard-filters">
      <Segmented
        aria-label={t('dashboards.period')}
        value={state.preset}
        onChange={(preset) => update({ period: preset === 'today' ? null : preset })}
        options={PRESETS.map((preset) => ({ value: preset, label: t(`dashboards.presets.${preset}`) }))}
      />
      {state.preset === 'custom' && (
        <DatePicker.RangePicker
          aria-label={t('dashboards.period')}
          placeholder={[t('calls.filters.periodStart'), t('calls.filters.periodEnd')]}
          value={[state.from ? dayjs(state.from) : null, state.to ? dayjs(state.to) : null]}
          onChange={(_dates, [from, to]) => update({ from: from || null, to: to || null })}
        />
      )}
      {numbers !== null && (
        <Select
          allowClear
          showSearch={{ optionFilterProp: 'label' }}
          aria-label={t('calls.filters.number')}
          placeholder={t('calls.filters.number')}
          value={state.numberId ?? undefined}
          onChange={(value: number | undefined) => update({ number: value === undefined ? null : String(value) })}
          options={[...numbers].map(([value, label]) => ({ value, label }))}
          style={{ width: 240 }}
        />
      )}
      <Select
        aria-label={t('dashboards.tab')}
        value={state.tab}
        onChange={(tab: string) => update({ tab: tab === 'incoming' ? null : tab })}
        options={DASHBOARD_TABS.map((tab) => ({ value: tab, label: t(`calls.tabs.${tab}`) }))}
        style={{ width: 160 }}
      />
    </Space>
  );
}

export default function DashboardsPage() {
  const { t, i18n } = useTranslation();
  const role = useMe(true).data?.role;
  // the state lives in the address, like the report's: a link shows the same figures
  const [params, update] = useAddressParams();
  const state = readState(params);
  // presets count back from the browser's today; the API reads the days in the account's zone
  const query = toQuery(state, dayjs().format('YYYY-MM-DD'));
  const dashboard = useDashboard(query);
  const lookups = useLookups(role).data;
  const locale = i18n.language === 'en' ? 'en-GB' : 'ru-RU';
  const number = (value: number, digits = 1) => new Intl.NumberFormat(locale, { maximumFractionDigits: digits }).format(value);
  const secondsText = (value: number | null | undefined) =>
    value === null || value === undefined ? t('dashboards.none') : t('dashboards.seconds', { value: number(value) });

  const data = dashboard.data;
  const bucket: Bucket = data?.bucket ?? 'hour';
  const labels = (data?.buckets ?? []).map((b) => bucketLabels(b.start, bucket, i18n.language));
  const figures = (data?.buckets ?? []).map((b) => b.figures);
  const other = (f: DashboardOut['totals']) => f.voicemail + f.blocked + f.active;
  const totals = data?.totals;
  const empty = totals !== undefined && totals.total === 0;

  const callSeries: Series[] = [
    { key: 'answered', label: t('dashboards.totals.answered'), color: COLORS.answered },
    { key: 'missed', label: t('dashboards.totals.missed'), color: COLORS.missed },
    { key: 'lost', label: t('dashboards.totals.lost'), color: COLORS.lost },
    { key: 'other', label: t('dashboards.calls.other'), color: COLORS.other },
  ];
  const waitSeries: Series[] = [
    { key: 'avg', label: t('dashboards.wait.avg'), color: COLORS.avg },
    { key: 'p90', label: t('dashboards.wait.p90'), color: COLORS.p90 },
  ];
  const callsTitle = t(`dashboards.calls.${bucket}`);
  const waitTitle = t(`dashboards.wait.${bucket}`);

  const columns: ColumnsType<EmployeeRow> = [
    {
      key: 'name',
      title: t('dashboards.employees.employee'),
      render: (_v, row) => row.name ?? t('dashboards.employees.deleted', { id: row.employee_id }),
    },
    { key: 'calls', title: t('dashboards.employees.calls'), dataIndex: 'calls', align: 'right' },
    { key: 'answered', title: t('dashboards.employees.answered'), dataIndex: 'answered', align: 'right' },
    { key: 'talk', title: t('dashboards.employees.talk'), align: 'right', render: (_v, row) => clock(row.talk_seconds) },
    {
      key: 'rating',
      title: t('dashboards.employees.rating'),
      align: 'right',
      render: (_v, row) => (row.rating_avg === null ? t('dashboards.none') : number(row.rating_avg, 2)),
    },
    { key: 'ratings', title: t('dashboards.employees.ratings'), dataIndex: 'ratings', align: 'right' },
  ];

  const statistics: { key: string; title: string; value: string | number; hint?: string }[] = totals
    ? [
        { key: 'total', title: t('dashboards.totals.total'), value: totals.total },
        { key: 'answered', title: t('dashboards.totals.answered'), value: totals.answered },
        { key: 'missed', title: t('dashboards.totals.missed'), value: totals.missed, hint: t('dashboards.hints.missed') },
        { key: 'lost', title: t('dashboards.totals.lost'), value: totals.lost, hint: t('dashboards.hints.lost') },
        { key: 'voicemail', title: t('dashboards.totals.voicemail'), value: totals.voicemail },
        { key: 'blocked', title: t('dashboards.totals.blocked'), value: totals.blocked },
        { key: 'wait-avg', title: t('dashboards.totals.waitAvg'), value: secondsText(totals.wait_avg), hint: t('dashboards.hints.wait') },
        { key: 'wait-p90', title: t('dashboards.totals.waitP90'), value: secondsText(totals.wait_p90), hint: t('dashboards.hints.waitP90') },
      ]
    : [];

  return (
    <Space orientation="vertical" size="middle" style={{ width: '100%' }}>
      <Typography.Title level={2} style={{ margin: 0 }}>
        {role === 'employee' ? t('dashboards.myTitle') : t('dashboards.title')}
      </Typography.Title>
      <Filters state={state} update={update} numbers={role === 'employee' ? null : (lookups?.numbers ?? new Map<number, string>())} />
      {data && <Typography.Text type="secondary">{t('dashboards.timezone', { zone: data.timezone })}</Typography.Text>}
      {dashboard.isError ? (
        <ErrorState error={dashboard.error} onRetry={() => void dashboard.refetch()} />
      ) : (
        <>
          {empty && <Alert type="info" showIcon title={t('dashboards.empty')} data-testid="dashboard-empty" />}
          <Row gutter={[16, 16]} data-testid="dashboard-totals">
            {statistics.map((item) => (
              <Col key={item.key} flex="1 1 160px">
                <Card size="small" style={{ height: '100%' }}>
                  <Statistic title={<Label text={item.title} hint={item.hint} />} value={item.value} data-testid={`figure-${item.key}`} />
                </Card>
              </Col>
            ))}
          </Row>
          <Card title={callsTitle} size="small" loading={dashboard.isPending}>
            <BarChart
              testId="chart-calls"
              title={callsTitle}
              summary={t('dashboards.calls.summary', {
                title: callsTitle,
                total: totals?.total ?? 0,
                answered: totals?.answered ?? 0,
                missed: totals?.missed ?? 0,
                lost: totals?.lost ?? 0,
                other: totals ? other(totals) : 0,
              })}
              bucketHeader={t(`dashboards.bucket.${bucket}`)}
              labels={labels}
              series={callSeries}
              values={[figures.map((f) => f.answered), figures.map((f) => f.missed), figures.map((f) => f.lost), figures.map(other)]}
              stacked
            />
          </Card>
          <Card title={waitTitle} size="small" loading={dashboard.isPending}>
            <BarChart
              testId="chart-wait"
              title={waitTitle}
              summary={t('dashboards.wait.summary', {
                title: waitTitle,
                avg: secondsText(totals?.wait_avg),
                p90: secondsText(totals?.wait_p90),
              })}
              bucketHeader={t(`dashboards.bucket.${bucket}`)}
              labels={labels}
              series={waitSeries}
              values={[figures.map((f) => f.wait_avg ?? null), figures.map((f) => f.wait_p90 ?? null)]}
              stacked={false}
              format={(value) => number(value)}
            />
          </Card>
          <Card title={t('dashboards.employees.title')} size="small">
            <Table<EmployeeRow>
              rowKey="employee_id"
              size="small"
              data-testid="dashboard-employees"
              loading={dashboard.isFetching}
              dataSource={data?.employees ?? []}
              columns={columns}
              pagination={false}
            />
          </Card>
        </>
      )}
    </Space>
  );
}
