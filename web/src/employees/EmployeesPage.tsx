import { PlusOutlined } from '@ant-design/icons';
import { Button, Input, Space, Table, Tag, Typography } from 'antd';
import type { SorterResult } from 'antd/es/table/interface';
import { useTranslation } from 'react-i18next';
import { Link, useNavigate, useSearchParams } from 'react-router-dom';
import { canEditConfig, useMe } from '../auth/me';
import { ErrorState } from '../common/ErrorState';
import { useEmployees, type EmployeeOut } from './api';

const SORTABLE = new Set(['last_name', 'first_name', 'extension']);

/** The list state lives in the address: reload, back and a shared link keep it. */
function useListState() {
  const [params, setParams] = useSearchParams();
  const page = Math.max(1, Number(params.get('page') ?? '1') || 1);
  const size = Math.min(200, Math.max(10, Number(params.get('size') ?? '20') || 20));
  const sort = params.get('sort') ?? 'last_name';
  const search = params.get('q') ?? '';
  const update = (patch: Record<string, string | number | null>): void => {
    const next = new URLSearchParams(params);
    for (const [key, value] of Object.entries(patch)) {
      if (value === null || value === '') next.delete(key);
      else next.set(key, String(value));
    }
    setParams(next, { replace: true });
  };
  return { page, size, sort, search, update };
}

export default function EmployeesPage() {
  const { t } = useTranslation();
  const navigate = useNavigate();
  const me = useMe(true);
  const state = useListState();
  const list = useEmployees({
    limit: state.size,
    offset: (state.page - 1) * state.size,
    sort: state.sort,
    search: state.search,
  });
  const sortOrder = (field: string) =>
    state.sort === field ? ('ascend' as const) : state.sort === `-${field}` ? ('descend' as const) : null;

  return (
    <Space orientation="vertical" size="middle" style={{ width: '100%' }}>
      <Space style={{ width: '100%', justifyContent: 'space-between', flexWrap: 'wrap' }}>
        <Typography.Title level={2} style={{ margin: 0 }}>
          {t('employees.title')}
        </Typography.Title>
        <Space wrap>
          <Input.Search
            allowClear
            aria-label={t('common.search')}
            placeholder={t('employees.searchPlaceholder')}
            defaultValue={state.search}
            onSearch={(value) => state.update({ q: value, page: null })}
            style={{ width: 260 }}
          />
          {canEditConfig(me.data?.role) && (
            <Button type="primary" icon={<PlusOutlined />} onClick={() => void navigate('/employees/new')}>
              {t('employees.new')}
            </Button>
          )}
        </Space>
      </Space>
      {list.isError ? (
        <ErrorState error={list.error} onRetry={() => void list.refetch()} />
      ) : (
        <Table<EmployeeOut>
          rowKey="id"
          loading={list.isFetching}
          dataSource={list.data?.items ?? []}
          pagination={{
            current: state.page,
            pageSize: state.size,
            total: list.data?.total ?? 0,
            showSizeChanger: true,
            pageSizeOptions: [10, 20, 50, 100],
            showTotal: (total) => t('common.total', { count: total }),
          }}
          onChange={(pagination, _filters, sorter) => {
            const one: SorterResult<EmployeeOut> | undefined = Array.isArray(sorter) ? sorter[0] : sorter;
            const field = typeof one?.field === 'string' && SORTABLE.has(one.field) ? one.field : null;
            const sort = field === null || !one?.order ? null : one.order === 'descend' ? `-${field}` : field;
            state.update({ page: pagination.current ?? 1, size: pagination.pageSize ?? state.size, sort });
          }}
          columns={[
            {
              title: t('employees.lastName'),
              dataIndex: 'last_name',
              sorter: true,
              sortOrder: sortOrder('last_name'),
              render: (value: string, row) => <Link to={`/employees/${row.id}`}>{value}</Link>,
            },
            { title: t('employees.firstName'), dataIndex: 'first_name', sorter: true, sortOrder: sortOrder('first_name') },
            { title: t('employees.extension'), dataIndex: 'extension', sorter: true, sortOrder: sortOrder('extension') },
            {
              title: t('employees.phones'),
              key: 'phones',
              render: (_value: unknown, row) =>
                row.phones.map((phone, index) => (
                  <Tag key={phone.id ?? index}>{phone.number ?? phone.sip_uri ?? t(`employees.kinds.${phone.kind}`)}</Tag>
                )),
            },
            {
              title: t('employees.callsEnabled'),
              dataIndex: 'calls_enabled',
              render: (value: boolean) => (
                <Tag color={value ? 'green' : 'default'}>{value ? t('common.yes') : t('common.no')}</Tag>
              ),
            },
          ]}
        />
      )}
    </Space>
  );
}
