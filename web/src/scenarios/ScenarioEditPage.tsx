import { ArrowDownOutlined, ArrowUpOutlined, DeleteOutlined, PlusOutlined } from '@ant-design/icons';
import { Alert, Button, Card, Col, Form, Input, Row, Select, Space, Spin, Tabs, Tag, Typography } from 'antd';
import { lazy, Suspense, useCallback, useDeferredValue, useMemo } from 'react';
import { useTranslation } from 'react-i18next';
import { useParams, useSearchParams } from 'react-router-dom';
import { describeFieldError } from '../api/errors';
import { EditFrame } from '../entities/EditFrame';
import { EntityFormBody } from '../entities/EntityFormBody';
import { useEntityForm } from '../entities/useEntityForm';
import { useLint, useSaveScenario, useScenario, type Scenario, type ScenarioOut, type ScenarioSaved } from './api';
import { EMPTY, toDocument, toValues, type Values } from './form';
import { useContextLists, type OperationContext } from './operations/context';
import { LintAlerts } from './operations/lint';
import { concerns, type Lint } from './operations/lintText';
import { freeKey, newOperation, type Operation } from './operations/model';
import { OperationForm } from './operations/OperationForm';
import { operationErrors } from './operations/serverErrors';
import { mergeErrors, OP_KEY, validateOperation, type FieldErrors } from './operations/validate';
import type { Doc } from './canvas/graph';

// the visual editor (React Flow, elkjs) loads with its tab only
const ScenarioCanvas = lazy(() => import('./canvas/ScenarioCanvas'));
const VIEWS = ['form', 'scheme'] as const;
type View = (typeof VIEWS)[number];

/** SCN-LINT beside the scenario: what no operation card shows (the rest is beside its operation). */
function LintPanel({ warnings, placed }: { warnings: readonly Lint[]; placed: number }) {
  const { t } = useTranslation();
  return (
    <Card size="small" title={t('scenarios.lint')} aria-label={t('scenarios.lint')}>
      <Typography.Paragraph type="secondary">{t('scenarios.lintHelp')}</Typography.Paragraph>
      {warnings.length === 0 && placed === 0 && <Alert type="success" showIcon title={t('scenarios.lintNone')} />}
      {placed > 0 && <Alert type="warning" showIcon title={t('scenarios.lintPlaced', { count: placed })} style={{ marginBottom: 8 }} />}
      <LintAlerts warnings={warnings} prefix />
    </Card>
  );
}

/** One operation inside the antd form (Form.Item gives value and onChange). */
function OperationItem({
  value,
  onChange,
  errors,
  ctx,
  lint,
  onFields,
}: {
  value?: Operation;
  onChange?: (value: Operation) => void;
  errors: FieldErrors;
  ctx: OperationContext;
  lint: readonly Lint[];
  /** the top-level fields of the operation that changed (their API errors go) */
  onFields: (fields: string[]) => void;
}) {
  if (value === undefined) return null;
  return (
    <OperationForm
      value={value}
      errors={errors}
      ctx={ctx}
      lint={lint}
      onChange={(next) => {
        const names = new Set([...Object.keys(value), ...Object.keys(next)]);
        const record = (op: Operation) => op as unknown as Record<string, unknown>;
        onFields([...names].filter((name) => JSON.stringify(record(value)[name]) !== JSON.stringify(record(next)[name])));
        onChange?.(next);
      }}
    />
  );
}

export default function ScenarioEditPage() {
  const { t, i18n } = useTranslation();
  const params = useParams();
  const id = params.id === undefined ? null : Number(params.id);
  const scenario = useScenario(id);
  const save = useSaveScenario(id);
  const lists = useContextLists();
  const state = useEntityForm<Values, ScenarioOut, Scenario, ScenarioSaved>({
    resource: 'scenarios',
    id,
    query: scenario,
    save,
    toValues,
    fields: (field) => field === 'name' || field === 'entry' || /^operations\.\d+(\.|$)/.test(field),
    created: t('scenarios.created'),
  });
  const { form, server } = state;
  const [search, setSearch] = useSearchParams();
  const view: View = VIEWS.find((v) => v === search.get('view')) ?? 'form';
  const values = Form.useWatch([], { form, preserve: true }) as Partial<Values> | undefined;
  const operations = useMemo(() => values?.operations ?? [], [values]);
  const canvasDoc: Doc = useMemo(() => ({ entry: values?.entry ?? null, operations }), [values, operations]);
  const onCanvasChange = useCallback(
    (doc: Doc) => {
      // both at once: the form's watchers see one change
      form.setFields([
        { name: 'operations', value: doc.operations },
        { name: 'entry', value: doc.entry ?? undefined },
      ]);
    },
    [form],
  );
  const loadedData = scenario.data?.data;
  const unsaved = useMemo(() => {
    if (loadedData === undefined || values === undefined) return true;
    const now = toDocument(values);
    return JSON.stringify([now.name, now.entry, now.operations]) !== JSON.stringify([loadedData.name, loadedData.entry, loadedData.operations]);
  }, [values, loadedData]);
  const draft = values === undefined ? null : toDocument(values);
  const lint = useLint(useDeferredValue(draft));
  const warnings = lint.data ?? save.data?.data.warnings ?? [];
  const keys = new Set(operations.map((op) => op.key));
  const placed = (warning: Lint) => warning.operation !== null && keys.has(warning.operation) && concerns(warning, warning.operation, id);
  const fromServer = operationErrors(server.errors, operations, (error) => describeFieldError(error, t, i18n.language));
  const title = id === null ? t('scenarios.new') : t('scenarios.editTitle', { name: scenario.data?.data.name ?? '' });
  const keyOptions = operations.filter((op) => OP_KEY.test(op.key)).map((op) => ({ value: op.key, label: op.key }));

  const clearOperation = (index: number, kind: string, fields: string[]) =>
    server.clear(Object.fromEntries(fields.flatMap((field) => [[`operations.${index}.${field}`, true], [`operations.${index}.${kind}.${field}`, true]])));

  return (
    <EditFrame state={state} back="/scenarios" title={title} readOnly={t('scenarios.readOnly')} maxWidth={view === 'scheme' ? 1900 : 1400}
      onOverwrite={() => state.submit(toDocument(form.getFieldsValue(true) as Values), true)}
    >
      <Row gutter={24}>
        <Col xs={24} lg={view === 'scheme' ? 24 : 17}>
          <EntityFormBody
            state={state}
            initialValues={EMPTY}
            isNew={id === null}
            // every value, also those of a view not shown (the form's list is not mounted under «Схема»)
            onFinish={() => state.submit(toDocument(form.getFieldsValue(true) as Values))}
            onValuesChange={(changed) => {
              // an operation's own editor clears the errors of the fields it changed
              server.clear(Object.fromEntries(Object.entries(changed).filter(([name]) => name !== 'operations')));
            }}
          >
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
            <Tabs
              activeKey={view}
              onChange={(key) =>
                setSearch(
                  (params) => {
                    const next = new URLSearchParams(params);
                    if (key === 'form') next.delete('view');
                    else next.set('view', key);
                    return next;
                  },
                  { replace: true },
                )
              }
              items={[
                {
                  key: 'form',
                  label: t('scenarios.canvas.formTab'),
                  children: (
                    <>
            <Typography.Title level={4}>{t('scenarios.operations')}</Typography.Title>
            <Form.List name="operations">
              {(items, { add, remove, move }) => (
                <Space orientation="vertical" style={{ width: '100%' }}>
                  {items.map((item, index) => {
                    const op = operations[index];
                    const label = t('scenarios.operation', { index: index + 1 });
                    const ctx: OperationContext = { ...lists, operations, scenarioId: id, idPrefix: `op-${item.key}` };
                    const own = op === undefined ? {} : validateOperation(op, operations, t);
                    const errors = mergeErrors(own, fromServer[index] ?? {});
                    const opLint = op === undefined ? [] : warnings.filter((warning) => concerns(warning, op.key, id));
                    return (
                      <Card
                        key={item.key}
                        size="small"
                        role="group"
                        aria-label={label}
                        title={`${label}: ${op?.key ?? ''} — ${op ? t(`scenarios.kinds.${op.kind}`) : ''}`}
                        extra={
                          <Space>
                            {Object.keys(errors).length > 0 && <Tag color="error">{t('scenarios.hasErrors')}</Tag>}
                            {opLint.length > 0 && <Tag color="warning">{t('scenarios.warningCount', { count: opLint.length })}</Tag>}
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
                        <Form.Item
                          name={item.name}
                          noStyle
                          rules={[
                            {
                              validator: (_rule, value: Operation | undefined) =>
                                value !== undefined && Object.keys(validateOperation(value, form.getFieldValue('operations') as Operation[], t)).length > 0
                                  ? Promise.reject(new Error(t('scenarios.hasErrors')))
                                  : Promise.resolve(),
                            },
                          ]}
                        >
                          <OperationItem errors={errors} ctx={ctx} lint={opLint} onFields={(fields) => op && clearOperation(index, op.kind, fields)} />
                        </Form.Item>
                      </Card>
                    );
                  })}
                  <Button icon={<PlusOutlined />} onClick={() => add(newOperation('forward', freeKey(operations)))}>
                    {t('scenarios.addOperation')}
                  </Button>
                </Space>
              )}
            </Form.List>
                    </>
                  ),
                },
                {
                  key: 'scheme',
                  label: t('scenarios.canvas.schemeTab'),
                  children: (
                    <Suspense fallback={<Spin />}>
                      <ScenarioCanvas
                        doc={canvasDoc}
                        onChange={onCanvasChange}
                        scenarioId={id}
                        editable={state.editable}
                        warnings={warnings}
                        serverErrors={fromServer}
                        lists={lists}
                        unsaved={unsaved}
                      />
                    </Suspense>
                  ),
                },
              ]}
            />
          </EntityFormBody>
        </Col>
        {view === 'form' && (
          <Col xs={24} lg={7}>
            <div style={{ position: 'sticky', top: 16 }}>
              <LintPanel warnings={warnings.filter((warning) => !placed(warning))} placed={warnings.filter(placed).length} />
            </div>
          </Col>
        )}
      </Row>
    </EditFrame>
  );
}
