import { PlusOutlined } from '@ant-design/icons';
import { useQueryClient, type UseQueryResult } from '@tanstack/react-query';
import { Button, Input, Space, Table, Typography } from 'antd';
import type { ColumnsType } from 'antd/es/table';
import type { SorterResult } from 'antd/es/table/interface';
import { useTranslation } from 'react-i18next';
import { Link, useNavigate, useSearchParams } from 'react-router-dom';
import { canEditConfig, useMe } from '../auth/me';
import { ErrorState } from '../common/ErrorState';
import { DeleteButton } from './DeleteButton';
import type { ListState } from './list';

export interface ListPage<T> {
  items: T[];
  total: number;
}


/** The list state lives in the address: reload, back and a shared link keep it. */
function useListState(defaultSort: string) {
  const [params, setParams] = useSearchParams();
  const page = Math.max(1, Number(params.get('page') ?? '1') || 1);
  const size = Math.min(200, Math.max(10, Number(params.get('size') ?? '20') || 20));
  const sort = params.get('sort') ?? defaultSort;
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

/**
 * A configuration entity's list: search (the API filters by equality: the whole name), sort,
 * paging, a link to each row's form and a delete that names what uses the entity (ACC-4).
 */
export function EntityList<T extends { id: number }>({
  resource,
  title,
  newLabel,
  searchPlaceholder,
  sortable,
  defaultSort,
  useList,
  columns,
  nameOf,
  remove,
  canCreate = true,
  canDelete = true,
}: {
  resource: string;
  title: string;
  newLabel: string;
  searchPlaceholder: string;
  sortable: readonly string[];
  defaultSort: string;
  useList: (state: ListState) => UseQueryResult<ListPage<T>>;
  columns: ColumnsType<T>;
  nameOf: (row: T) => string;
  remove: (id: number) => Promise<unknown>;
  /** false where the API lets only another role create or delete (FMC lines: the operator) */
  canCreate?: boolean;
  canDelete?: boolean;
}) {
  const { t } = useTranslation();
  const navigate = useNavigate();
  const client = useQueryClient();
  const me = useMe(true);
  const editable = canEditConfig(me.data?.role);
  const state = useListState(defaultSort);
  const list = useList({ page: state.page, size: state.size, sort: state.sort, search: state.search });
  const sortOrder = (field: string) =>
    state.sort === field ? ('ascend' as const) : state.sort === `-${field}` ? ('descend' as const) : null;
  const shown: ColumnsType<T> = columns.map((column) => {
    const field = 'dataIndex' in column && typeof column.dataIndex === 'string' ? column.dataIndex : null;
    if (field === null || !sortable.includes(field)) return column;
    return { ...column, sorter: true, sortOrder: sortOrder(field) };
  });
  if (shown.length > 0) {
    const first = shown[0];
    if (first !== undefined && 'dataIndex' in first) {
      shown[0] = {
        ...first,
        render: (_value: unknown, row: T) => <Link to={`/${resource}/${row.id}`}>{nameOf(row) || `#${row.id}`}</Link>,
      };
    }
  }
  if (editable && canDelete) {
    shown.push({
      title: t('entity.actions'),
      key: 'actions',
      width: 120,
      render: (_value: unknown, row: T) => (
        <DeleteButton
          name={nameOf(row)}
          remove={() => remove(row.id)}
          onDeleted={() => void client.invalidateQueries({ queryKey: [resource] })}
        />
      ),
    });
  }

  return (
    <Space orientation="vertical" size="middle" style={{ width: '100%' }}>
      <Space style={{ width: '100%', justifyContent: 'space-between', flexWrap: 'wrap' }}>
        <Typography.Title level={2} style={{ margin: 0 }}>
          {title}
        </Typography.Title>
        <Space wrap>
          <Input.Search
            allowClear
            aria-label={t('common.search')}
            placeholder={searchPlaceholder}
            defaultValue={state.search}
            onSearch={(value) => state.update({ q: value, page: null })}
            style={{ width: 260 }}
          />
          {editable && canCreate && (
            <Button type="primary" icon={<PlusOutlined />} onClick={() => void navigate(`/${resource}/new`)}>
              {newLabel}
            </Button>
          )}
        </Space>
      </Space>
      {list.isError ? (
        <ErrorState error={list.error} onRetry={() => void list.refetch()} />
      ) : (
        <Table<T>
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
            const one: SorterResult<T> | undefined = Array.isArray(sorter) ? sorter[0] : sorter;
            const field = typeof one?.field === 'string' && sortable.includes(one.field) ? one.field : null;
            const sort = field === null || !one?.order ? null : one.order === 'descend' ? `-${field}` : field;
            state.update({ page: pagination.current ?? 1, size: pagination.pageSize ?? state.size, sort });
          }}
          columns={shown}
        />
      )}
    </Space>
  );
}
