import { ArrowDownOutlined, ArrowUpOutlined, DeleteOutlined, PlusOutlined } from '@ant-design/icons';
import { Button, Card, Col, Form, Input, Row, Select, Space, Switch, Typography } from 'antd';
import { useTranslation } from 'react-i18next';
import { useParams } from 'react-router-dom';
import { SortableList } from '../common/SortableList';
import { INTERNATIONAL } from '../employees/form';
import { EditFrame } from '../entities/EditFrame';
import { EntityFormBody } from '../entities/EntityFormBody';
import {
  useAllCallerLists,
  useAllContactGroups,
  useAllContacts,
  useAllScenarios,
  useAllSchedules,
} from '../entities/lookups';
import { useEntityForm } from '../entities/useEntityForm';
import { useNumber, useSaveNumber, type NumberRule, type VirtualNumber, type VirtualNumberOut } from './api';

type Scope = NumberRule['callers']['scope'];

interface RuleValues {
  name: string;
  enabled: boolean;
  schedule_id: number | null;
  scope: Scope;
  contact_ids: number[];
  contact_group_ids: number[];
  caller_list_ids: number[];
  scenario_id: number | null;
}

interface Values {
  number: string;
  name: string;
  kind: 'pbx' | 'analytics';
  forward_to: string;
  record_calls: boolean;
  rules: RuleValues[];
}

const EMPTY: Values = { number: '', name: '', kind: 'pbx', forward_to: '', record_calls: false, rules: [] };
const NEW_RULE: RuleValues = {
  name: '',
  enabled: true,
  schedule_id: null,
  scope: 'all',
  contact_ids: [],
  contact_group_ids: [],
  caller_list_ids: [],
  scenario_id: null,
};
const FIELDS = ['number', 'name', 'kind', 'forward_to', 'record_calls', 'rules'];
const SCOPES: Scope[] = ['all', 'contacts', 'contact_groups', 'unknown', 'lists'];
const SCOPE_LIST: Partial<Record<Scope, 'contact_ids' | 'contact_group_ids' | 'caller_list_ids'>> = {
  contacts: 'contact_ids',
  contact_groups: 'contact_group_ids',
  lists: 'caller_list_ids',
};

function toValues(data: VirtualNumberOut): Values {
  return {
    number: data.number,
    name: data.name,
    kind: data.kind,
    forward_to: data.forward_to ?? '',
    record_calls: data.record_calls,
    rules: data.rules.map((rule) => ({
      name: rule.name,
      enabled: rule.enabled,
      schedule_id: rule.schedule_id ?? null,
      scope: rule.callers.scope,
      contact_ids: rule.callers.contact_ids,
      contact_group_ids: rule.callers.contact_group_ids,
      caller_list_ids: rule.callers.caller_list_ids,
      scenario_id: rule.scenario_id,
    })),
  };
}

/** The form's values as the API's document; the rules keep their order (their priority). */
function toDocument(values: Values, stored: VirtualNumberOut | undefined): VirtualNumber {
  const pbx = values.kind === 'pbx';
  return {
    number: values.number.trim(),
    name: values.name,
    kind: values.kind,
    forward_to: pbx ? null : values.forward_to.trim(),
    record_calls: values.record_calls,
    trunk_id: stored?.trunk_id ?? null,
    region: stored?.region ?? null,
    rules: pbx
      ? values.rules.map((rule) => {
          const list = SCOPE_LIST[rule.scope];
          return {
            name: rule.name,
            enabled: rule.enabled,
            schedule_id: rule.schedule_id ?? null,
            scenario_id: rule.scenario_id ?? 0,
            callers: {
              scope: rule.scope,
              contact_ids: list === 'contact_ids' ? rule.contact_ids : [],
              contact_group_ids: list === 'contact_group_ids' ? rule.contact_group_ids : [],
              caller_list_ids: list === 'caller_list_ids' ? rule.caller_list_ids : [],
            },
          };
        })
      : [],
  };
}

export default function NumberEditPage() {
  const { t } = useTranslation();
  const params = useParams();
  const id = params.id === undefined ? null : Number(params.id);
  const number = useNumber(id);
  const schedules = useAllSchedules();
  const scenarios = useAllScenarios();
  const contacts = useAllContacts();
  const contactGroups = useAllContactGroups();
  const callerLists = useAllCallerLists();
  const state = useEntityForm<Values, VirtualNumberOut, VirtualNumber>({
    resource: 'numbers',
    id,
    query: number,
    save: useSaveNumber(id),
    toValues,
    fields: (field) => FIELDS.some((name) => field === name || field.startsWith(`${name}.`)),
    created: t('numbers.created'),
  });
  const { form, server, editable } = state;
  const kind = Form.useWatch('kind', { form, preserve: true }) as Values['kind'] | undefined;
  const rules = Form.useWatch('rules', { form, preserve: true }) as RuleValues[] | undefined;
  const title = id === null ? t('numbers.new') : t('numbers.editTitle', { number: number.data?.data.number ?? '' });
  const options = {
    contact_ids: (contacts.data?.items ?? []).map((item) => ({
      value: item.id,
      label: `${item.last_name} ${item.first_name}`.trim(),
    })),
    contact_group_ids: (contactGroups.data?.items ?? []).map((item) => ({ value: item.id, label: item.name })),
    caller_list_ids: (callerLists.data?.items ?? []).map((item) => ({ value: item.id, label: item.name })),
  };
  const listLabel = { contact_ids: 'numbers.contacts', contact_group_ids: 'numbers.contactGroups', caller_list_ids: 'numbers.callerLists' };

  return (
    <EditFrame state={state} back="/numbers" title={title} readOnly={t('numbers.readOnly')}>
      <EntityFormBody state={state} initialValues={EMPTY} isNew={id === null} onFinish={(values) => state.submit(toDocument(values, state.loaded))}>
        <Row gutter={16}>
          <Col xs={24} md={8}>
            <Form.Item
              name="number"
              label={t('numbers.number')}
              rules={[{ required: true, pattern: INTERNATIONAL, message: t('numbers.numberRule') }]}
              {...server.itemProps(['number'])}
            >
              <Input inputMode="numeric" autoComplete="off" />
            </Form.Item>
          </Col>
          <Col xs={24} md={8}>
            <Form.Item name="name" label={t('numbers.name')} rules={[{ max: 200 }]} {...server.itemProps(['name'])}>
              <Input autoComplete="off" />
            </Form.Item>
          </Col>
          <Col xs={24} md={8}>
            <Form.Item name="kind" label={t('numbers.kind')} {...server.itemProps(['kind'])}>
              <Select options={(['pbx', 'analytics'] as const).map((value) => ({ value, label: t(`numbers.kinds.${value}`) }))} />
            </Form.Item>
          </Col>
          {kind === 'analytics' && (
            <Col xs={24} md={8}>
              <Form.Item
                name="forward_to"
                label={t('numbers.forwardTo')}
                rules={[{ required: true, pattern: INTERNATIONAL, message: t('numbers.numberRule') }]}
                {...server.itemProps(['forward_to'])}
              >
                <Input inputMode="numeric" autoComplete="off" />
              </Form.Item>
            </Col>
          )}
          <Col xs={24} md={8}>
            <Form.Item name="record_calls" label={t('numbers.record')} valuePropName="checked">
              <Switch />
            </Form.Item>
          </Col>
        </Row>
        {kind !== 'analytics' && (
          <>
            <Typography.Title level={4}>{t('numbers.rules')}</Typography.Title>
            <Typography.Paragraph type="secondary">{t('numbers.rulesHelp')}</Typography.Paragraph>
            <Form.List name="rules">
              {(items, { add, remove, move }) => (
                <Space orientation="vertical" style={{ width: '100%' }}>
                  {items.length === 0 && <Typography.Text type="warning">{t('numbers.noRules')}</Typography.Text>}
                  <SortableList
                    items={items}
                    idOf={(item) => item.key}
                    labelOf={(index) => t('numbers.rule', { index: index + 1 })}
                    onMove={({ from, to }) => move(from, to)}
                    disabled={!editable}
                  >
                    {(item, index, handle) => {
                      const scope = rules?.[index]?.scope ?? 'all';
                      const list = SCOPE_LIST[scope];
                      const label = t('numbers.rule', { index: index + 1 });
                      return (
                        <Card
                          key={item.key}
                          size="small"
                          role="group"
                          aria-label={label}
                          title={`${label}${rules?.[index]?.name ? ` — ${rules[index].name}` : ''}`}
                          extra={
                            <Space>
                              {handle}
                              <Button
                                size="small"
                                icon={<ArrowUpOutlined />}
                                aria-label={`${t('common.moveUp')} ${index + 1}`}
                                disabled={!editable || index === 0}
                                onClick={() => move(index, index - 1)}
                              />
                              <Button
                                size="small"
                                icon={<ArrowDownOutlined />}
                                aria-label={`${t('common.moveDown')} ${index + 1}`}
                                disabled={!editable || index === items.length - 1}
                                onClick={() => move(index, index + 1)}
                              />
                              <Button
                                size="small"
                                danger
                                icon={<DeleteOutlined />}
                                aria-label={`${t('common.remove')} ${index + 1}`}
                                onClick={() => remove(index)}
                              />
                            </Space>
                          }
                        >
                          <Row gutter={12}>
                            <Col xs={24} md={8}>
                              <Form.Item name={[item.name, 'name']} label={t('numbers.ruleName')} {...server.itemProps(['rules', index, 'name'])}>
                                <Input autoComplete="off" />
                              </Form.Item>
                            </Col>
                            <Col xs={12} md={4}>
                              <Form.Item name={[item.name, 'enabled']} label={t('numbers.enabled')} valuePropName="checked">
                                <Switch />
                              </Form.Item>
                            </Col>
                            <Col xs={24} md={12}>
                              <Form.Item
                                name={[item.name, 'schedule_id']}
                                label={t('numbers.schedule')}
                                {...server.itemProps(['rules', index, 'schedule_id'])}
                              >
                                <Select
                                  allowClear
                                  placeholder={t('entity.always')}
                                  options={(schedules.data?.items ?? []).map((s) => ({ value: s.id, label: s.name }))}
                                />
                              </Form.Item>
                            </Col>
                            <Col xs={24} md={12}>
                              <Form.Item name={[item.name, 'scope']} label={t('numbers.callers')}>
                                <Select options={SCOPES.map((value) => ({ value, label: t(`numbers.scopes.${value}`) }))} />
                              </Form.Item>
                            </Col>
                            {list !== undefined && (
                              <Col xs={24} md={12}>
                                <Form.Item
                                  name={[item.name, list]}
                                  label={t(listLabel[list])}
                                  rules={[{ required: true, type: 'array', min: 1, message: t('numbers.listRequired') }]}
                                  {...server.itemProps(['rules', index, 'callers', list])}
                                >
                                  <Select mode="multiple" showSearch={{ optionFilterProp: 'label' }} options={options[list]} />
                                </Form.Item>
                              </Col>
                            )}
                            <Col xs={24} md={12}>
                              <Form.Item
                                name={[item.name, 'scenario_id']}
                                label={t('numbers.scenario')}
                                rules={[{ required: true, message: t('numbers.scenarioRequired') }]}
                                {...server.itemProps(['rules', index, 'scenario_id'])}
                              >
                                <Select
                                  showSearch={{ optionFilterProp: 'label' }}
                                  options={(scenarios.data?.items ?? []).map((s) => ({ value: s.id, label: s.name }))}
                                />
                              </Form.Item>
                            </Col>
                          </Row>
                        </Card>
                      );
                    }}
                  </SortableList>
                  <Button icon={<PlusOutlined />} onClick={() => add({ ...NEW_RULE })} disabled={!editable}>
                    {t('numbers.addRule')}
                  </Button>
                </Space>
              )}
            </Form.List>
          </>
        )}
      </EntityFormBody>
    </EditFrame>
  );
}
