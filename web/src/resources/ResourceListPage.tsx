import { ArrowDownOutlined, ArrowUpOutlined } from '@ant-design/icons';
import { useQueryClient } from '@tanstack/react-query';
import { App, Button, Space, Tag } from 'antd';
import type { ColumnsType } from 'antd/es/table';
import { useMemo, useState } from 'react';
import { useTranslation } from 'react-i18next';
import { useMe } from '../auth/me';
import { EntityList } from '../entities/EntityList';
import { deleteResource, listHook, listOf, patchResource, useRefOptions } from './client';
import { getPath, labelKey } from './form';
import type { FieldSpec, Out, RefName, ResourceName, ResourceSpec } from './spec';

const ADMINS = ['operator', 'admin'] as const;

/** A reference shown by its name (the options are cached per resource). */
function RefNames({ target, ids }: { target: RefName; ids: number[] }) {
  const options = useRefOptions(target);
  const names = ids.map((id) => options.data?.find((option) => option.value === id)?.label ?? `#${id}`);
  return <>{names.join(', ')}</>;
}

function text(value: unknown): string {
  return typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean' ? `${value}` : JSON.stringify(value);
}

function Cell<D>({ field, value }: { field: FieldSpec<D> | undefined; value: unknown }) {
  const { t } = useTranslation();
  if (value === null || value === undefined || value === '') return <>—</>;
  switch (field?.kind) {
    case 'switch':
      return <>{value === true ? t('resources.common.yes') : t('resources.common.no')}</>;
    case 'enum': {
      const values = Array.isArray(value) ? value : [value];
      return <>{values.map((item) => t(`resources.enums.${field.enumKey}.${String(item)}`)).join(', ')}</>;
    }
    case 'ref':
      return <RefNames target={field.target} ids={[Number(value)]} />;
    case 'refs':
      return <RefNames target={field.target} ids={Array.isArray(value) ? value.map(Number) : []} />;
    case 'color':
      return <Tag color={text(value)}>{text(value)}</Tag>;
    default:
      return <>{Array.isArray(value) ? value.map(text).join(', ') : text(value)}</>;
  }
}

/** ↑/↓ of an ordered list (CID-3, callback rules): the new order written as positions 0, 10, 20… */
function useReorder(name: ResourceName) {
  const client = useQueryClient();
  const { message } = App.useApp();
  const { t } = useTranslation();
  const [busy, setBusy] = useState(false);
  const move = async (id: number, by: -1 | 1): Promise<void> => {
    setBusy(true);
    try {
      const all = (await listOf(name, { limit: 1000, offset: 0, sort: 'position,id' })).items as unknown as { id: number; position: number }[];
      const from = all.findIndex((row) => row.id === id);
      const to = from + by;
      if (from < 0 || to < 0 || to >= all.length) return;
      const order = [...all];
      const [moved] = order.splice(from, 1);
      if (moved === undefined) return;
      order.splice(to, 0, moved);
      for (const [index, row] of order.entries()) {
        if (row.position !== index * 10) await patchResource(name, row.id, { position: index * 10 } as never);
      }
      void message.success(t('resources.common.reordered'));
    } catch (error) {
      void message.error(error instanceof Error ? error.message : String(error));
    } finally {
      setBusy(false);
      void client.invalidateQueries({ queryKey: [name] });
    }
  };
  return { move, busy };
}

/** The list of any generic resource: search, sort and paging as the API offers (EntityList). */
export function ResourceListPage<R extends ResourceName>({ spec }: { spec: ResourceSpec<R> }) {
  const { t } = useTranslation();
  const me = useMe(true);
  const role = me.data?.role;
  const useList = useMemo(() => listHook(spec.name, spec.searchField), [spec.name, spec.searchField]);
  const reorder = useReorder(spec.name);
  const columns: ColumnsType<Out<R>> = spec.columns.map((name) => {
    const field = spec.fields.find((candidate) => (candidate.name as string) === name);
    return {
      title: t(labelKey(spec.name, name)),
      key: name,
      dataIndex: name.includes('.') ? name.split('.') : name,
      render: (_value: unknown, row: Out<R>) => <Cell field={field} value={getPath(row, name)} />,
    };
  });
  if (spec.ordered && role !== undefined && (ADMINS as readonly string[]).includes(role)) {
    columns.push({
      title: t('resources.common.order'),
      key: 'order',
      width: 110,
      render: (_value: unknown, row: Out<R>) => (
        <Space>
          <Button
            size="small"
            icon={<ArrowUpOutlined />}
            aria-label={`${t('resources.common.moveUp')} ${spec.nameOf(row)}`}
            disabled={reorder.busy}
            onClick={() => void reorder.move(row.id, -1)}
          />
          <Button
            size="small"
            icon={<ArrowDownOutlined />}
            aria-label={`${t('resources.common.moveDown')} ${spec.nameOf(row)}`}
            disabled={reorder.busy}
            onClick={() => void reorder.move(row.id, 1)}
          />
        </Space>
      ),
    });
  }
  const may = (roles: readonly string[] | undefined) => role !== undefined && (roles ?? ADMINS).includes(role);
  return (
    <EntityList<Out<R>>
      resource={spec.name}
      title={t(labelKey(spec.name, 'title'))}
      newLabel={t(labelKey(spec.name, 'new'))}
      searchPlaceholder={t('resources.common.searchBy', { field: t(labelKey(spec.name, spec.searchField)) })}
      sortable={spec.sortable}
      defaultSort={spec.defaultSort}
      useList={useList}
      nameOf={spec.nameOf}
      remove={(id) => deleteResource(spec.name, id)}
      canCreate={may(spec.creators)}
      canDelete={may(spec.removers)}
      columns={columns}
    />
  );
}
