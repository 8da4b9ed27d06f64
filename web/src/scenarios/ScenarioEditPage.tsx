import { ArrowDownOutlined, ArrowUpOutlined, DeleteOutlined, PlusOutlined } from '@ant-design/icons';
import { Alert, Button, Card, Col, Form, Input, InputNumber, List, Row, Select, Space, Typography } from 'antd';
import { useDeferredValue } from 'react';
import { useTranslation } from 'react-i18next';
import { useParams } from 'react-router-dom';
import { EditFrame } from '../entities/EditFrame';
import { EntityFormBody } from '../entities/EntityFormBody';
import { useAllEmployees, useAllGroups } from '../entities/lookups';
import { useEntityForm } from '../entities/useEntityForm';
import { useLint, useSaveScenario, useScenario, type Lint, type Scenario, type ScenarioOut, type ScenarioSaved } from './api';
import { EXITS, KINDS, newOperation, parseOther, toDocument, toValues, type Values } from './form';

const EMPTY: Values = { name: '', entry: 'start', operations: [newOperation('start')] };
const KEY = /^[A-Za-z0-9_-]{1,40}$/;

/** SCN-LINT beside the scenario: the draft is checked by the API as it is edited. */
function LintPanel({ draft, saved }: { draft: Scenario | null; saved: Lint[] | undefined }) {
  const { t } = useTranslation();
  const lint = useLint(useDeferredValue(draft));
  const warnings = lint.data ?? saved ?? [];
  return (
    <Card size="small" title={t('scenarios.lint')} aria-label={t('scenarios.lint')}>
      <Typography.Paragraph type="secondary">{t('scenarios.lintHelp')}</Typography.Paragraph>
      {warnings.length === 0 ? (
        <Alert type="success" showIcon title={t('scenarios.lintNone')} />
      ) : (
        <List
          size="small"
          dataSource={warnings}
          renderItem={(warning) => (
            <List.Item>
              <Alert
                style={{ width: '100%' }}
                type={warning.severity === 'error' ? 'error' : 'warning'}
                showIcon
                title={`${warning.operation ?? ''}${warning.operation ? ': ' : ''}${warning.message}`}
                description={warning.code}
              />
            </List.Item>
          )}
        />
      )}
    </Card>
  );
}

export default function ScenarioEditPage() {
  const { t } = useTranslation();
  const params = useParams();
  const id = params.id === undefined ? null : Number(params.id);
  const scenario = useScenario(id);
  const save = useSaveScenario(id);
  const groups = useAllGroups();
  const employees = useAllEmployees();
  const state = useEntityForm<Values, ScenarioOut, Scenario, ScenarioSaved>({
    resource: 'scenarios',
    id,
    query: scenario,
    save,
    toValues,
    fields: (field) => field === 'name' || field === 'entry' || field.startsWith('operations'),
    created: t('scenarios.created'),
  });
  const { form, server } = state;
  const values = Form.useWatch([], { form, preserve: true }) as Partial<Values> | undefined;
  const draft = values === undefined ? null : toDocument(values);
  const keys = (values?.operations ?? []).map((op) => op.key).filter((key) => key && KEY.test(key));
  const keyOptions = keys.map((key) => ({ value: key, label: key }));
  const title = id === null ? t('scenarios.new') : t('scenarios.editTitle', { name: scenario.data?.data.name ?? '' });

  return (
    <EditFrame state={state} back="/scenarios" title={title} readOnly={t('scenarios.readOnly')} maxWidth={1400}>
      <Row gutter={24}>
        <Col xs={24} lg={16}>
          <EntityFormBody state={state} initialValues={EMPTY} isNew={id === null} onFinish={(submitted) => {
              const document = toDocument(submitted);
              if (document !== null) state.submit(document);
            }}>
            <Row gutter={16}>
              <Col xs={24} md={14}>
                <Form.Item
                  name="name"
                  label={t('scenarios.name')}
                  rules={[{ required: true, whitespace: true, message: t('scenarios.nameRequired') }, { max: 200 }]}
                  {...server.itemProps(['name'])}
                >
                  <Input autoComplete="off" />
                </Form.Item>
              </Col>
              <Col xs={24} md={10}>
                <Form.Item name="entry" label={t('scenarios.entry')} {...server.itemProps(['entry'])}>
                  <Select options={keyOptions} />
                </Form.Item>
              </Col>
            </Row>
            <Typography.Title level={4}>{t('scenarios.operations')}</Typography.Title>
            <Form.List name="operations">
              {(items, { add, remove, move }) => (
                <Space orientation="vertical" style={{ width: '100%' }}>
                  {items.map((item, index) => {
                    const op = values?.operations?.[index];
                    const kind = op?.kind ?? 'forward';
                    const label = t('scenarios.operation', { index: index + 1 });
                    const path = (name: string) => ['operations', index, name];
                    return (
                      <Card
                        key={item.key}
                        size="small"
                        role="group"
                        aria-label={label}
                        title={`${label}: ${op?.key ?? ''} — ${t(`scenarios.kinds.${kind}`)}`}
                        extra={
                          <Space>
                            <Button size="small" icon={<ArrowUpOutlined />} aria-label={`${t('common.moveUp')} ${index + 1}`} disabled={index === 0} onClick={() => move(index, index - 1)} />
                            <Button
                              size="small"
                              icon={<ArrowDownOutlined />}
                              aria-label={`${t('common.moveDown')} ${index + 1}`}
                              disabled={index === items.length - 1}
                              onClick={() => move(index, index + 1)}
                            />
                            <Button size="small" danger icon={<DeleteOutlined />} aria-label={`${t('common.remove')} ${index + 1}`} onClick={() => remove(index)} />
                          </Space>
                        }
                      >
                        <Row gutter={12}>
                          <Col xs={24} md={6}>
                            <Form.Item name={[item.name, 'key']} label={t('scenarios.key')} rules={[{ required: true, pattern: KEY, message: t('scenarios.keyRule') }]} {...server.itemProps(path('key'))}>
                              <Input autoComplete="off" />
                            </Form.Item>
                          </Col>
                          <Col xs={24} md={9}>
                            <Form.Item name={[item.name, 'kind']} label={t('scenarios.kind')}>
                              <Select options={KINDS.map((value) => ({ value, label: t(`scenarios.kinds.${value}`) }))} />
                            </Form.Item>
                          </Col>
                          <Col xs={24} md={9}>
                            <Form.Item name={[item.name, 'title']} label={t('scenarios.operationTitle')} {...server.itemProps(path('title'))}>
                              <Input autoComplete="off" />
                            </Form.Item>
                          </Col>
                          {kind === 'forward' && (
                            <>
                              <Col xs={24} md={12}>
                                <Form.Item name={[item.name, 'group_ids']} label={t('scenarios.groups')} {...server.itemProps(path('targets'))}>
                                  <Select mode="multiple" showSearch={{ optionFilterProp: 'label' }} options={(groups.data?.items ?? []).map((g) => ({ value: g.id, label: g.name }))} />
                                </Form.Item>
                              </Col>
                              <Col xs={24} md={12}>
                                <Form.Item name={[item.name, 'employee_ids']} label={t('scenarios.employees')}>
                                  <Select
                                    mode="multiple"
                                    showSearch={{ optionFilterProp: 'label' }}
                                    options={(employees.data?.items ?? []).map((e) => ({ value: e.id, label: `${e.last_name} ${e.first_name}`.trim() }))}
                                  />
                                </Form.Item>
                              </Col>
                              <Col xs={24} md={12}>
                                <Form.Item name={[item.name, 'numbers']} label={t('scenarios.numbers')} tooltip={t('scenarios.numbersHelp')}>
                                  <Input autoComplete="off" />
                                </Form.Item>
                              </Col>
                              <Col xs={24} md={12}>
                                <Form.Item name={[item.name, 'strategy']} label={t('scenarios.strategy')} {...server.itemProps(path('strategy'))}>
                                  <Select
                                    options={(['support', 'sales', 'priority', 'in_turn', 'fastest', 'custom'] as const).map((value) => ({
                                      value,
                                      label: t(`scenarios.strategies.${value}`),
                                    }))}
                                  />
                                </Form.Item>
                              </Col>
                            </>
                          )}
                          {kind === 'info' && (
                            <Col xs={24}>
                              <Form.Item name={[item.name, 'text']} label={t('scenarios.text')} {...server.itemProps(path('text'))}>
                                <Input.TextArea rows={2} />
                              </Form.Item>
                            </Col>
                          )}
                          {kind === 'voicemail' && (
                            <Col xs={24}>
                              <Form.Item name={[item.name, 'emails']} label={t('scenarios.emails')} {...server.itemProps(path('emails'))}>
                                <Input autoComplete="off" />
                              </Form.Item>
                            </Col>
                          )}
                          {kind === 'menu' && (
                            <>
                              <Col xs={24} md={16}>
                                <Form.Item name={[item.name, 'prompt_text']} label={t('scenarios.promptText')}>
                                  <Input autoComplete="off" />
                                </Form.Item>
                              </Col>
                              <Col xs={24} md={8}>
                                <Form.Item name={[item.name, 'timeout']} label={t('scenarios.timeout')}>
                                  <InputNumber min={1} max={60} style={{ width: '100%' }} />
                                </Form.Item>
                              </Col>
                            </>
                          )}
                          {kind === 'auth' && (
                            <Col xs={24} md={8}>
                              <Form.Item name={[item.name, 'code']} label={t('scenarios.code')} {...server.itemProps(path('code'))}>
                                <Input autoComplete="off" />
                              </Form.Item>
                            </Col>
                          )}
                        </Row>
                        {EXITS[kind].length > 0 && (
                          <>
                            <Typography.Text strong>{t('scenarios.exits')}</Typography.Text>
                            <Row gutter={12}>
                              {EXITS[kind].map((exit) => (
                                <Col key={exit} xs={12} md={6}>
                                  <Form.Item name={[item.name, 'exits', exit]} label={exit}>
                                    <Select allowClear placeholder={t('scenarios.exitEnds')} options={keyOptions.filter((option) => option.value !== op?.key)} />
                                  </Form.Item>
                                </Col>
                              ))}
                            </Row>
                          </>
                        )}
                        <Form.Item
                          name={[item.name, 'other']}
                          label={t('scenarios.other')}
                          tooltip={t('scenarios.otherHelp')}
                          rules={[
                            {
                              validator: (_rule, text: string | undefined) => {
                                const parsed = parseOther(text ?? '');
                                return typeof parsed === 'string'
                                  ? Promise.reject(new Error(t('scenarios.jsonBad', { error: parsed })))
                                  : Promise.resolve();
                              },
                            },
                          ]}
                        >
                          <Input.TextArea rows={2} style={{ fontFamily: 'monospace' }} />
                        </Form.Item>
                      </Card>
                    );
                  })}
                  <Button icon={<PlusOutlined />} onClick={() => add(newOperation(`op${items.length + 1}`))}>
                    {t('scenarios.addOperation')}
                  </Button>
                </Space>
              )}
            </Form.List>
          </EntityFormBody>
        </Col>
        <Col xs={24} lg={8}>
          <LintPanel draft={draft} saved={save.data?.data.warnings} />
        </Col>
      </Row>
    </EditFrame>
  );
}
