import { DeleteOutlined, PlusOutlined } from '@ant-design/icons';
import { useQuery, useQueryClient } from '@tanstack/react-query';
import { Alert, App, Button, Card, Col, Form, Input, Result, Row, Space, Steps, Typography } from 'antd';
import type { Rule } from 'antd/es/form';
import { useState } from 'react';
import { useTranslation } from 'react-i18next';
import { useNavigate } from 'react-router-dom';
import { api } from '../api/client';
import { ApiError, unwrap } from '../api/errors';
import { ErrorState } from '../common/ErrorState';
import { useServerErrors } from '../common/serverErrors';
import { INTERNATIONAL, normalizePhone } from '../common/validation';
import { extensionProblem } from '../employees/form';
import { SipLineCard } from '../employees/SipLineCard';
import { employeeDocument, numberDocument, numberRules, scenarioDocument, type NewEmployee } from './steps';

interface Created {
  number: { id: number; number: string } | null;
  employees: { id: number; name: string; lineId: number | null }[];
  scenarioId: number | null;
}

/** The API's field errors of one employee of the list, named as the list's fields. */
function underEmployee(error: unknown, index: number): unknown {
  if (!(error instanceof ApiError) || error.body === null) return error;
  const errors = error.body.errors.map((item) => ({ ...item, field: `employees.${index}.${item.field}` }));
  return new ApiError(error.status, { ...error.body, errors });
}

function NumberStep({ onDone }: { onDone: (number: { id: number; number: string }) => void }) {
  const { t } = useTranslation();
  const server = useServerErrors();
  const [busy, setBusy] = useState(false);
  const [failure, setFailure] = useState<unknown>(null);
  const submit = async (values: { number: string; name: string }): Promise<void> => {
    server.reset();
    setFailure(null);
    setBusy(true);
    try {
      const made = await unwrap(api.POST('/api/v1/numbers', { body: numberDocument(values.number, values.name) }));
      onDone({ id: made.id, number: made.number });
    } catch (error) {
      if (!server.take(error)) setFailure(error);
    } finally {
      setBusy(false);
    }
  };
  return (
    <Form
      layout="vertical"
      initialValues={{ number: '', name: '' }}
      onFinish={(values: { number: string; name: string }) => void submit(values)}
      onValuesChange={(changed: Record<string, unknown>) => server.clear(changed)}
      style={{ maxWidth: 520 }}
    >
      {failure !== null && <ErrorState error={failure} />}
      <Form.Item
        name="number"
        label={t('setup.number')}
        tooltip={t('setup.numberHelp')}
        rules={[
          {
            required: true,
            validator: (_rule, value: string | undefined) =>
              INTERNATIONAL.test(normalizePhone(value ?? '')) ? Promise.resolve() : Promise.reject(new Error(t('setup.numberRule'))),
          },
        ]}
        {...server.itemProps(['number'])}
      >
        <Input inputMode="tel" placeholder="74951234567" autoComplete="off" />
      </Form.Item>
      <Form.Item name="name" label={t('setup.numberName')} rules={[{ max: 200 }]} {...server.itemProps(['name'])}>
        <Input autoComplete="off" />
      </Form.Item>
      <Button type="primary" htmlType="submit" loading={busy}>
        {t('setup.next')}
      </Button>
    </Form>
  );
}

function EmployeesStep({
  created,
  onCreated,
  onNext,
}: {
  created: Created['employees'];
  onCreated: (employee: Created['employees'][number]) => void;
  onNext: () => void;
}) {
  const { t } = useTranslation();
  const server = useServerErrors();
  const [busy, setBusy] = useState(false);
  const [failure, setFailure] = useState<unknown>(null);
  const extensionRule: Rule = {
    validator: (_rule, value: string | undefined) => {
      const problem = extensionProblem(value ?? '');
      return problem === null ? Promise.resolve() : Promise.reject(new Error(t(problem)));
    },
  };
  const submit = async (values: { employees: NewEmployee[] }): Promise<void> => {
    server.reset();
    setFailure(null);
    setBusy(true);
    // those already made (a later one was refused) are not made twice
    for (const [index, employee] of values.employees.entries()) {
      if (index < created.length) continue;
      try {
        const made = await unwrap(api.POST('/api/v1/employees', { body: employeeDocument(employee) }));
        onCreated({
          id: made.id,
          name: [made.last_name, made.first_name].filter(Boolean).join(' '),
          lineId: made.phones[0]?.sip_line_id ?? null,
        });
      } catch (error) {
        if (!server.take(underEmployee(error, index))) setFailure(error);
        setBusy(false);
        return;
      }
    }
    setBusy(false);
  };
  const allMade = created.length > 0;
  return (
    <Space orientation="vertical" size="middle" style={{ width: '100%' }}>
      {failure !== null && <ErrorState error={failure} />}
      <Form
        layout="vertical"
        initialValues={{ employees: [{ last_name: '', first_name: '', extension: '' }] }}
        onFinish={(values: { employees: NewEmployee[] }) => void submit(values)}
        onValuesChange={(changed: Record<string, unknown>) => server.clear(changed)}
        disabled={allMade}
      >
        <Form.List name="employees">
          {(fields, { add, remove }) => (
            <Space orientation="vertical" style={{ width: '100%' }}>
              {fields.map((field, index) => (
                <Card
                  key={field.key}
                  size="small"
                  title={t('setup.employee', { index: index + 1 })}
                  role="group"
                  aria-label={t('setup.employee', { index: index + 1 })}
                  extra={
                    fields.length > 1 && index >= created.length ? (
                      <Button size="small" danger icon={<DeleteOutlined />} aria-label={t('setup.removeEmployee')} onClick={() => remove(field.name)} />
                    ) : null
                  }
                >
                  <Row gutter={12}>
                    <Col xs={24} md={9}>
                      <Form.Item
                        name={[field.name, 'last_name']}
                        label={t('setup.lastName')}
                        rules={[{ required: true, whitespace: true, message: t('setup.lastNameRequired') }, { max: 200 }]}
                        {...server.itemProps(['employees', index, 'last_name'])}
                      >
                        <Input autoComplete="off" disabled={index < created.length} />
                      </Form.Item>
                    </Col>
                    <Col xs={24} md={9}>
                      <Form.Item name={[field.name, 'first_name']} label={t('setup.firstName')} rules={[{ max: 200 }]} {...server.itemProps(['employees', index, 'first_name'])}>
                        <Input autoComplete="off" disabled={index < created.length} />
                      </Form.Item>
                    </Col>
                    <Col xs={24} md={6}>
                      <Form.Item name={[field.name, 'extension']} label={t('setup.extension')} rules={[extensionRule]} {...server.itemProps(['employees', index, 'extension'])}>
                        <Input inputMode="numeric" autoComplete="off" disabled={index < created.length} />
                      </Form.Item>
                    </Col>
                  </Row>
                </Card>
              ))}
              {!allMade && (
                <Button icon={<PlusOutlined />} onClick={() => add({ last_name: '', first_name: '', extension: '' })}>
                  {t('setup.addEmployee')}
                </Button>
              )}
            </Space>
          )}
        </Form.List>
        {!allMade && (
          <Button type="primary" htmlType="submit" loading={busy} style={{ marginTop: 16 }}>
            {t('common.create')}
          </Button>
        )}
      </Form>
      {allMade && (
        <>
          <Alert type="success" showIcon title={t('setup.employeesCreated')} description={t('setup.sipHelp')} />
          {created.map((employee) =>
            employee.lineId === null ? null : (
              <Card key={employee.id} size="small" title={employee.name}>
                <SipLineCard lineId={employee.lineId} canReveal />
              </Card>
            ),
          )}
          <Button type="primary" onClick={onNext}>
            {t('setup.next')}
          </Button>
        </>
      )}
    </Space>
  );
}

function ScenarioStep({ created, onDone }: { created: Created; onDone: (scenarioId: number) => void }) {
  const { t } = useTranslation();
  const server = useServerErrors();
  const [busy, setBusy] = useState(false);
  const [failure, setFailure] = useState<unknown>(null);
  const submit = async (values: { name: string }): Promise<void> => {
    if (created.number === null) return;
    server.reset();
    setFailure(null);
    setBusy(true);
    try {
      const scenario = await unwrap(
        api.POST('/api/v1/scenarios', { body: scenarioDocument(values.name, created.employees.map((employee) => employee.id)) }),
      );
      await unwrap(
        api.PATCH('/api/v1/numbers/{entity_id}', {
          params: { path: { entity_id: created.number.id } },
          body: numberRules(scenario.id, t('setup.ruleName')),
        }),
      );
      onDone(scenario.id);
    } catch (error) {
      if (!server.take(error)) setFailure(error);
    } finally {
      setBusy(false);
    }
  };
  return (
    <Form
      layout="vertical"
      initialValues={{ name: t('setup.scenarioDefault') }}
      onFinish={(values: { name: string }) => void submit(values)}
      onValuesChange={(changed: Record<string, unknown>) => server.clear(changed)}
      style={{ maxWidth: 520 }}
    >
      {failure !== null && <ErrorState error={failure} />}
      <Typography.Paragraph type="secondary">{t('setup.scenarioHelp')}</Typography.Paragraph>
      <Form.Item name="name" label={t('setup.scenarioName')} rules={[{ required: true, whitespace: true }, { max: 200 }]} {...server.itemProps(['name'])}>
        <Input autoComplete="off" />
      </Form.Item>
      <Button type="primary" htmlType="submit" loading={busy}>
        {t('common.create')}
      </Button>
    </Form>
  );
}

function TestCallStep({ created }: { created: Created }) {
  const { t } = useTranslation();
  const navigate = useNavigate();
  const numberId = created.number?.id ?? 0;
  const calls = useQuery({
    queryKey: ['calls', 'list', 'setup', numberId],
    queryFn: () => unwrap(api.GET('/api/v1/calls', { params: { query: { number_id: numberId, limit: 1, sort: '-started_at' } } })),
    refetchInterval: 2000,
  });
  const last = calls.data?.items[0];
  const answerer = created.employees.find((employee) => employee.id === last?.employee_id);
  return (
    <Space orientation="vertical" size="middle">
      <Typography.Paragraph>
        {t('setup.testText', {
          number: `+${created.number?.number ?? ''}`,
          employees: created.employees.map((employee) => employee.name).join(', '),
        })}
      </Typography.Paragraph>
      <div role="status" aria-live="polite" data-testid="setup-last-call">
        {last === undefined ? (
          <Typography.Text type="secondary">{t('setup.waiting')}</Typography.Text>
        ) : (
          <Alert
            type={last.status === 'answered' ? 'success' : 'info'}
            showIcon
            title={[
              t('setup.lastCall', { caller: last.caller, status: t(`setup.status.${last.status}`, { defaultValue: last.status }) }),
              answerer === undefined ? '' : t('setup.answeredBy', { name: answerer.name }),
            ]
              .filter(Boolean)
              .join(', ')}
          />
        )}
      </div>
      <Button type="primary" onClick={() => void navigate('/')}>
        {t('setup.finish')}
      </Button>
    </Space>
  );
}

/**
 * The manual's setup of a new account in four steps: a virtual number, employees (each with a
 * SIP line to enter in a phone), a scenario forwarding to them linked to the number by a rule,
 * then a test call watched in the calls report.
 */
export default function SetupWizard() {
  const { t } = useTranslation();
  const { message } = App.useApp();
  const client = useQueryClient();
  const [step, setStep] = useState(0);
  const [created, setCreated] = useState<Created>({ number: null, employees: [], scenarioId: null });
  const steps = ['number', 'employees', 'scenario', 'test'] as const;
  return (
    <Space orientation="vertical" size="large" style={{ width: '100%', maxWidth: 960 }}>
      <Typography.Title level={2} style={{ margin: 0 }}>
        {t('setup.title')}
      </Typography.Title>
      <Typography.Paragraph type="secondary">{t('setup.intro')}</Typography.Paragraph>
      <Steps current={step} items={steps.map((key) => ({ title: t(`setup.steps.${key}`) }))} />
      {step === 0 && (
        <NumberStep
          onDone={(number) => {
            setCreated((now) => ({ ...now, number }));
            void message.success(t('setup.numberCreated', { number: number.number }));
            void client.invalidateQueries({ queryKey: ['numbers'] });
            setStep(1);
          }}
        />
      )}
      {step === 1 && (
        <EmployeesStep
          created={created.employees}
          onCreated={(employee) => {
            setCreated((now) => ({ ...now, employees: [...now.employees, employee] }));
            void client.invalidateQueries({ queryKey: ['employees'] });
          }}
          onNext={() => setStep(2)}
        />
      )}
      {step === 2 && (
        <ScenarioStep
          created={created}
          onDone={(scenarioId) => {
            setCreated((now) => ({ ...now, scenarioId }));
            void message.success(t('setup.scenarioCreated'));
            void client.invalidateQueries({ queryKey: ['scenarios'] });
            setStep(3);
          }}
        />
      )}
      {step === 3 && <TestCallStep created={created} />}
      {step === 3 && <Result status="success" title={t('setup.done')} style={{ padding: 0 }} />}
    </Space>
  );
}
