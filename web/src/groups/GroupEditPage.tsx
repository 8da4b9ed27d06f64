import { ArrowDownOutlined, ArrowUpOutlined } from '@ant-design/icons';
import { Alert, Button, Col, Form, Input, InputNumber, Radio, Row, Select, Space, Switch, Table, Typography } from 'antd';
import { useMemo, useState } from 'react';
import { useTranslation } from 'react-i18next';
import { useParams } from 'react-router-dom';
import { EditFrame } from '../entities/EditFrame';
import { EntityFormBody } from '../entities/EntityFormBody';
import { useAllEmployees, useAllSchedules } from '../entities/lookups';
import { useEntityForm } from '../entities/useEntityForm';
import { useGroup, useSaveGroup, type Group, type GroupOut } from './api';
import { equalized, moved, percentTotal, sortByType, syncRows, type GroupPhone } from './distribution';

interface Values {
  name: string;
  extension: string;
  member_ids: number[];
  schedule_id: number | null;
  simultaneous_lines: number;
}

const EMPTY: Values = { name: '', extension: '', member_ids: [], schedule_id: null, simultaneous_lines: 1 };

function toValues(data: GroupOut): Values {
  return {
    name: data.name,
    extension: data.extension ?? '',
    member_ids: data.member_ids,
    schedule_id: data.schedule_id ?? null,
    simultaneous_lines: data.simultaneous_lines,
  };
}
const FIELDS = new Set(['name', 'extension', 'member_ids', 'schedule_id', 'simultaneous_lines']);

export default function GroupEditPage() {
  const { t } = useTranslation();
  const params = useParams();
  const id = params.id === undefined ? null : Number(params.id);
  const group = useGroup(id);
  const employees = useAllEmployees();
  const schedules = useAllSchedules();
  const state = useEntityForm<Values, GroupOut, Group>({
    resource: 'groups',
    id,
    query: group,
    save: useSaveGroup(id),
    toValues,
    fields: (field) => FIELDS.has(field) || field === 'distribution',
    created: t('groups.created'),
  });
  const { form, server, editable } = state;
  // The user's edits of the table belong to the version they were made on: a reload drops them.
  const version = group.data?.etag ?? null;
  const [edits, setEdits] = useState<{ version: string | null; rows: GroupPhone[]; typeSort: 'S' | 'T' | null } | null>(null);
  const memberIds = Form.useWatch('member_ids', { form, preserve: true }) as number[] | undefined;
  const mine = edits !== null && edits.version === version ? edits : null;
  const typeSort = mine?.typeSort ?? (mine === null ? (state.loaded?.type_sort ?? null) : null);
  const staff = useMemo(() => employees.data?.items ?? [], [employees.data]);
  const phoneOf = (row: GroupPhone) =>
    staff.find((item) => item.id === row.employee_id)?.phones.find((phone) => phone.id === row.phone_id);
  const base = mine?.rows ?? state.loaded?.distribution ?? [];
  // The table follows the members: new members' phones appear at 0 %, leavers' rows go.
  const rows = memberIds === undefined || employees.data === undefined ? base : syncRows(base, memberIds, staff);
  const setRows = (next: GroupPhone[]) => setEdits({ version, rows: next, typeSort });
  const setTypeSort = (next: 'S' | 'T' | null) => setEdits({ version, rows, typeSort: next });
  const shown = sortByType(rows, typeSort, (row) => phoneOf(row)?.kind);
  const total = percentTotal(shown);
  const totalOk = total === 0 || Math.abs(total - 100) <= 0.01;

  const submit = (values: Values): void => {
    const body: Group = {
      name: values.name,
      extension: values.extension.trim() === '' ? null : values.extension.trim(),
      member_ids: values.member_ids,
      schedule_id: values.schedule_id ?? null,
      simultaneous_lines: values.simultaneous_lines,
      type_sort: typeSort,
      distribution: shown,
    };
    state.submit(body);
  };

  const update = (index: number, patch: Partial<GroupPhone>) =>
    setRows(shown.map((row, i) => (i === index ? { ...row, ...patch } : row)));
  const title = id === null ? t('groups.new') : t('groups.editTitle', { name: group.data?.data.name ?? '' });

  return (
    <EditFrame state={state} back="/groups" title={title} readOnly={t('groups.readOnly')}>
      <EntityFormBody state={state} initialValues={EMPTY} isNew={id === null} blocked={!totalOk} onFinish={submit}>
        <Row gutter={16}>
          <Col xs={24} md={12}>
            <Form.Item
              name="name"
              label={t('groups.name')}
              rules={[{ required: true, whitespace: true, message: t('groups.nameRequired') }, { max: 200 }]}
              {...server.itemProps(['name'])}
            >
              <Input autoComplete="off" />
            </Form.Item>
          </Col>
          <Col xs={12} md={6}>
            <Form.Item
              name="extension"
              label={t('groups.extension')}
              tooltip={t('groups.extensionHelp')}
              rules={[{ pattern: /^\d{0,5}$/, message: t('employees.rules.extensionDigits') }]}
              {...server.itemProps(['extension'])}
            >
              <Input inputMode="numeric" autoComplete="off" />
            </Form.Item>
          </Col>
          <Col xs={12} md={6}>
            <Form.Item name="simultaneous_lines" label={t('groups.lines')} {...server.itemProps(['simultaneous_lines'])}>
              <InputNumber min={1} max={100} precision={0} style={{ width: '100%' }} />
            </Form.Item>
          </Col>
          <Col xs={24} md={12}>
            <Form.Item name="member_ids" label={t('groups.members')} {...server.itemProps(['member_ids'])}>
              <Select
                mode="multiple"
                showSearch={{ optionFilterProp: 'label' }}
                loading={employees.isPending}
                options={staff.map((item) => ({
                  value: item.id,
                  label: `${item.last_name} ${item.first_name}`.trim() + (item.extension ? ` (${item.extension})` : ''),
                }))}
              />
            </Form.Item>
          </Col>
          <Col xs={24} md={12}>
            <Form.Item name="schedule_id" label={t('groups.schedule')} {...server.itemProps(['schedule_id'])}>
              <Select
                allowClear
                placeholder={t('entity.always')}
                loading={schedules.isPending}
                options={(schedules.data?.items ?? []).map((item) => ({ value: item.id, label: item.name }))}
              />
            </Form.Item>
          </Col>
        </Row>

        <Typography.Title level={4}>{t('groups.distribution')}</Typography.Title>
        <Typography.Paragraph type="secondary">{t('groups.distributionHelp')}</Typography.Paragraph>
        <Space wrap style={{ marginBottom: 12 }}>
          <span>{t('groups.typeSort')}:</span>
          <Radio.Group
            aria-label={t('groups.typeSort')}
            value={typeSort ?? 'manual'}
            onChange={(event) => {
              const value = event.target.value as string;
              setTypeSort(value === 'S' || value === 'T' ? value : null);
            }}
            optionType="button"
            options={[
              { value: 'S', label: t('groups.sortS') },
              { value: 'T', label: t('groups.sortT') },
              { value: 'manual', label: t('groups.sortManual') },
            ]}
          />
          <Button onClick={() => setRows(equalized(shown))} disabled={!editable || shown.length === 0}>
            {t('groups.equalize')}
          </Button>
        </Space>
        <Typography.Paragraph type="secondary">{t('groups.sortHelp')}</Typography.Paragraph>
        <Table<GroupPhone>
          size="small"
          pagination={false}
          rowKey={(row) => `${row.employee_id}/${row.phone_id}`}
          dataSource={shown}
          locale={{ emptyText: t('groups.noRows') }}
          columns={[
            {
              title: t('groups.employee'),
              key: 'employee',
              render: (_v: unknown, row) => staff.find((item) => item.id === row.employee_id)?.last_name ?? `#${row.employee_id}`,
            },
            {
              title: t('groups.phone'),
              key: 'phone',
              render: (_v: unknown, row) => {
                const phone = phoneOf(row);
                if (phone === undefined) return row.phone_id;
                return `${phone.kind === 'sip' || phone.kind === 'fmc' ? 'S' : 'T'} · ${
                  phone.number ?? phone.sip_uri ?? t(`employees.kinds.${phone.kind}`)
                }`;
              },
            },
            {
              title: t('groups.percent'),
              key: 'percent',
              render: (_v: unknown, row, index) => (
                <InputNumber
                  aria-label={`${t('groups.percent')} ${index + 1}`}
                  min={0}
                  max={100}
                  step={0.01}
                  precision={2}
                  value={row.percent}
                  disabled={!editable}
                  onChange={(value) => update(index, { percent: value ?? 0 })}
                />
              ),
            },
            {
              title: t('groups.available'),
              key: 'enabled',
              render: (_v: unknown, row, index) => (
                <Switch
                  aria-label={`${t('groups.available')} ${index + 1}`}
                  checked={row.enabled}
                  disabled={!editable}
                  onChange={(checked) => update(index, { enabled: checked })}
                />
              ),
            },
            {
              title: t('entity.actions'),
              key: 'move',
              render: (_v: unknown, _row, index) => (
                <Space>
                  <Button
                    size="small"
                    icon={<ArrowUpOutlined />}
                    aria-label={`${t('common.moveUp')} ${index + 1}`}
                    disabled={!editable || typeSort !== null || index === 0}
                    onClick={() => setRows(moved(shown, index, index - 1))}
                  />
                  <Button
                    size="small"
                    icon={<ArrowDownOutlined />}
                    aria-label={`${t('common.moveDown')} ${index + 1}`}
                    disabled={!editable || typeSort !== null || index === shown.length - 1}
                    onClick={() => setRows(moved(shown, index, index + 1))}
                  />
                </Space>
              ),
            },
          ]}
        />
        <Typography.Paragraph type={totalOk ? 'secondary' : 'danger'} style={{ marginTop: 8 }} {...(totalOk ? {} : { role: 'alert' })}>
          {totalOk ? t('groups.total', { total }) : t('groups.totalBad', { total })}
        </Typography.Paragraph>
        {server.itemProps(['distribution']).help !== undefined && (
          <Alert type="error" showIcon title={server.itemProps(['distribution']).help} />
        )}
      </EntityFormBody>
    </EditFrame>
  );
}
