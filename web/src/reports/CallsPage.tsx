import { DownloadOutlined, PlayCircleOutlined, SettingOutlined, StopOutlined } from '@ant-design/icons';
import {
  App,
  Button,
  Checkbox,
  DatePicker,
  Input,
  Popconfirm,
  Popover,
  Select,
  Space,
  Table,
  Tabs,
  Tag,
  Tooltip,
  Typography,
} from 'antd';
import type { ColumnsType, SorterResult } from 'antd/es/table/interface';
import dayjs from 'dayjs';
import { useState } from 'react';
import { useTranslation } from 'react-i18next';
import { ApiError } from '../api/errors';
import { canEditConfig, useMe, type Role } from '../auth/me';
import { useAddressParams } from '../common/addressState';
import { ErrorState } from '../common/ErrorState';
import { AudioPlayer } from '../files/AudioPlayer';
import { downloadCsv, useBlockNumber, useCalls, useLookups, type CallOut, type Lookups } from './api';
import { CallDetails } from './CallDetails';
import {
  clock,
  COLUMNS,
  CONFIG_COLUMNS,
  loadColumns,
  PAGE_SIZES,
  patchFor,
  readState,
  saveColumns,
  SORTABLE,
  STATUSES,
  TABS,
  toQuery,
  type ColumnKey,
  type ReportState,
} from './filters';

/** The report's state lives in the address: reload, back and a shared link keep it. */
function useReportState() {
  const [params, update] = useAddressParams();
  return { state: readState(params), update };
}

export function ReportFilters({
  state,
  update,
  role,
  lookups,
}: {
  state: ReportState;
  update: (patch: Record<string, string | null>) => void;
  role: Role | undefined;
  lookups: Lookups | undefined;
}) {
  const { t } = useTranslation();
  const config = role !== undefined && role !== 'employee';
  const set = (changes: Record<string, string | number | null>) => update(patchFor(changes));
  const options = (names: Map<number, string> | undefined) =>
    [...(names ?? new Map<number, string>())].map(([value, label]) => ({ value, label }));
  return (
    <Space wrap data-testid="report-filters">
      <DatePicker.RangePicker
        aria-label={t('calls.filters.period')}
        placeholder={[t('calls.filters.periodStart'), t('calls.filters.periodEnd')]}
        value={[state.from ? dayjs(state.from) : null, state.to ? dayjs(state.to) : null]}
        allowEmpty={[true, true]}
        onChange={(_dates, [from, to]) => set({ from: from || null, to: to || null })}
      />
      <Input.Search
        allowClear
        aria-label={t('calls.filters.caller')}
        placeholder={t('calls.filters.callerPlaceholder')}
        defaultValue={state.caller}
        key={`caller-${state.caller}`}
        onSearch={(value) => set({ caller: value.trim() })}
        style={{ width: 200 }}
      />
      <Select
        allowClear
        aria-label={t('calls.filters.status')}
        placeholder={t('calls.filters.status')}
        value={state.status ?? undefined}
        onChange={(value: string | undefined) => set({ status: value ?? null })}
        options={STATUSES.map((status) => ({ value: status, label: t(`calls.status.${status}`) }))}
        style={{ width: 180 }}
      />
      {config && (
        <>
          <Select
            allowClear
            showSearch={{ optionFilterProp: 'label' }}
            aria-label={t('calls.filters.employee')}
            placeholder={t('calls.filters.employee')}
            value={state.employeeId ?? undefined}
            onChange={(value: number | undefined) => set({ employee: value ?? null })}
            options={options(lookups?.employees)}
            style={{ width: 200 }}
          />
          <Select
            allowClear
            showSearch={{ optionFilterProp: 'label' }}
            aria-label={t('calls.filters.number')}
            placeholder={t('calls.filters.number')}
            value={state.numberId ?? undefined}
            onChange={(value: number | undefined) => set({ number: value ?? null })}
            options={options(lookups?.numbers)}
            style={{ width: 220 }}
          />
          <Select
            allowClear
            aria-label={t('calls.filters.tag')}
            placeholder={t('calls.filters.tag')}
            value={state.tagId ?? undefined}
            onChange={(value: number | undefined) => set({ tag: value ?? null })}
            options={[...(lookups?.tags ?? new Map<number, { name: string }>())].map(([value, tag]) => ({
              value,
              label: tag.name,
            }))}
            style={{ width: 160 }}
          />
        </>
      )}
      <Button
        onClick={() =>
          set({ from: null, to: null, caller: null, status: null, employee: null, number: null, tag: null })
        }
      >
        {t('calls.filters.reset')}
      </Button>
    </Space>
  );
}

export function ColumnChooser({
  columns,
  available,
  onChange,
}: {
  columns: readonly ColumnKey[];
  available: readonly ColumnKey[];
  onChange: (columns: ColumnKey[]) => void;
}) {
  const { t } = useTranslation();
  return (
    <Popover
      trigger="click"
      placement="bottomRight"
      title={t('calls.chooseColumns')}
      content={
        <Checkbox.Group<ColumnKey>
          value={[...columns]}
          onChange={(chosen) => chosen.length > 0 && onChange(chosen)}
          style={{ display: 'flex', flexDirection: 'column', gap: 4 }}
          options={available.map((key) => ({ value: key, label: t(`calls.columns.${key}`) }))}
        />
      }
    >
      <Button icon={<SettingOutlined />}>{t('calls.chooseColumns')}</Button>
    </Popover>
  );
}

function useBlock() {
  const { t } = useTranslation();
  const { message } = App.useApp();
  const block = useBlockNumber();
  return async (call: CallOut): Promise<void> => {
    const number = call.direction === 'outgoing' ? call.called : call.caller;
    try {
      await block.mutateAsync({ number, comment: t('calls.blockComment', { id: call.id }) });
      void message.success(t('calls.blocked', { number }));
    } catch (error) {
      if (error instanceof ApiError && error.status === 409) void message.info(t('calls.alreadyBlocked', { number }));
      else void message.error(t('calls.blockFailed'));
    }
  };
}

export default function CallsPage() {
  const { t, i18n } = useTranslation();
  const { message } = App.useApp();
  const me = useMe(true);
  const role = me.data?.role;
  const { state, update } = useReportState();
  const query = toQuery(state);
  const list = useCalls(query);
  const lookups = useLookups(role).data;
  const [chosen, setChosen] = useState<ColumnKey[]>(loadColumns);
  const [open, setOpen] = useState<CallOut | null>(null);
  const [playing, setPlaying] = useState<number | null>(null);
  const block = useBlock();
  const available = COLUMNS.filter((key) => role !== 'employee' || !CONFIG_COLUMNS.has(key));
  const shown = chosen.filter((key) => available.includes(key));
  const admin = canEditConfig(role);
  const locale = i18n.language === 'en' ? 'en-GB' : 'ru-RU';

  const sortOrder = (field: string) =>
    state.sort === field ? ('ascend' as const) : state.sort === `-${field}` ? ('descend' as const) : null;
  const name = (names: Map<number, string> | undefined, id: number | null | undefined) =>
    id == null ? '' : (names?.get(id) ?? `#${id}`);

  const render: Record<ColumnKey, (row: CallOut) => React.ReactNode> = {
    started_at: (row) => new Date(row.started_at).toLocaleString(locale),
    direction: (row) => t(`calls.direction.${row.direction}`),
    status: (row) => (
      <Tag color={row.status === 'answered' ? 'green' : row.status === 'blocked' ? 'default' : 'orange'}>
        {t(`calls.status.${row.status}`)}
      </Tag>
    ),
    caller: (row) => row.caller,
    called: (row) => row.called,
    contact_name: (row) => row.contact_name,
    employee: (row) =>
      role === 'employee' ? (row.employee_id != null ? t('calls.myTitle') : '') : name(lookups?.employees, row.employee_id),
    number: (row) => name(lookups?.numbers, row.number_id),
    wait_seconds: (row) => clock(row.wait_seconds),
    talk_seconds: (row) => clock(row.talk_seconds),
    rating: (row) => row.rating ?? '',
    tags: (row) =>
      row.tag_ids.map((id) => {
        const tag = lookups?.tags.get(id);
        return (
          <Tag key={id} color={tag?.color}>
            {tag?.name ?? `#${id}`}
          </Tag>
        );
      }),
    recording: (row) => {
      const first = row.recording_file_ids[0];
      if (first === undefined) return null;
      return playing === row.id ? (
        <AudioPlayer fileId={first} name={`${row.caller} → ${row.called}`} autoPlay />
      ) : (
        <Button
          size="small"
          icon={<PlayCircleOutlined />}
          aria-label={t('player.label', { name: `${row.caller} → ${row.called}` })}
          onClick={() => setPlaying(row.id)}
        />
      );
    },
  };

  const columns: ColumnsType<CallOut> = shown.map((key) => ({
    key,
    title: t(`calls.columns.${key}`),
    dataIndex: SORTABLE.has(key) ? key : undefined,
    sorter: SORTABLE.has(key),
    sortOrder: SORTABLE.has(key) ? sortOrder(key) : null,
    render: (_value: unknown, row: CallOut) => render[key](row),
  }));
  columns.push({
    key: 'actions',
    title: t('calls.columns.actions'),
    render: (_value: unknown, row: CallOut) => (
      <Space size={4}>
        <Button size="small" onClick={() => setOpen(row)}>
          {t('calls.details')}
        </Button>
        {admin && row.direction !== 'internal' && (
          <Popconfirm
            title={t('calls.blockConfirm', { number: row.direction === 'outgoing' ? row.called : row.caller })}
            okText={t('calls.block')}
            cancelText={t('common.cancel')}
            onConfirm={() => void block(row)}
          >
            <Tooltip title={t('calls.block')}>
              <Button size="small" danger icon={<StopOutlined />} aria-label={t('calls.block')} />
            </Tooltip>
          </Popconfirm>
        )}
      </Space>
    ),
  });

  return (
    <Space orientation="vertical" size="middle" style={{ width: '100%' }}>
      <Space style={{ width: '100%', justifyContent: 'space-between', flexWrap: 'wrap' }}>
        <Typography.Title level={2} style={{ margin: 0 }}>
          {role === 'employee' ? t('calls.myTitle') : t('calls.title')}
        </Typography.Title>
        <Space wrap>
          <ColumnChooser columns={shown} available={available} onChange={(next) => setChosen(saveColumns(next))} />
          <Button
            icon={<DownloadOutlined />}
            onClick={() => void downloadCsv(query, shown).catch(() => message.error(t('calls.exportFailed')))}
          >
            {t('calls.export')}
          </Button>
        </Space>
      </Space>
      <Tabs
        activeKey={state.tab}
        onChange={(tab) => update(patchFor({ tab: tab === 'all' ? null : tab }))}
        items={TABS.map((tab) => ({ key: tab, label: t(`calls.tabs.${tab}`) }))}
      />
      <ReportFilters state={state} update={update} role={role} lookups={lookups} />
      {list.isError ? (
        <ErrorState error={list.error} onRetry={() => void list.refetch()} />
      ) : (
        <Table<CallOut>
          rowKey="id"
          size="middle"
          data-testid="calls-table"
          loading={list.isFetching}
          dataSource={list.data?.items ?? []}
          scroll={{ x: 'max-content' }}
          // BLK-2: blocked calls stay in «Все» and «Входящие», greyed
          onRow={(row) => (row.status === 'blocked' ? { style: { color: '#999', background: '#fafafa' } } : {})}
          pagination={{
            current: state.page,
            pageSize: state.size,
            total: list.data?.total ?? 0,
            showSizeChanger: true,
            pageSizeOptions: [...PAGE_SIZES],
            showTotal: (total) => t('common.total', { count: total }),
          }}
          onChange={(pagination, _filters, sorter) => {
            const one: SorterResult<CallOut> | undefined = Array.isArray(sorter) ? sorter[0] : sorter;
            const field = typeof one?.columnKey === 'string' && SORTABLE.has(one.columnKey) ? one.columnKey : null;
            const sort = field === null || !one?.order ? null : one.order === 'descend' ? `-${field}` : field;
            update({
              page: String(pagination.current ?? 1),
              size: String(pagination.pageSize ?? state.size),
              sort,
            });
          }}
          columns={columns}
        />
      )}
      <CallDetails call={open} onClose={() => setOpen(null)} />
    </Space>
  );
}
