import { CheckCircleOutlined, CloseCircleOutlined, LoadingOutlined, PhoneOutlined } from '@ant-design/icons';
import { useQueryClient } from '@tanstack/react-query';
import { Alert, Button, Form, Input, InputNumber, Modal, Radio, Select, Space, Typography } from 'antd';
import { useEffect, useState } from 'react';
import { useTranslation } from 'react-i18next';
import { ApiError, describeFieldError, type FieldError } from '../api/errors';
import { messageIn, useRecording, useStartRecording, type PhoneRecording, type RecordingRequest } from './api';

type Whom = 'employee' | 'number';

interface Values {
  name: string;
  whom: Whom;
  employee_id?: number;
  number?: string;
  max_seconds: number;
}

const FIELDS = ['name', 'employee_id', 'number', 'max_seconds'] as const;
const OUTCOMES = ['employee_no_answer', 'employee_left', 'refused', 'nothing_recorded', 'failed'] as const;

/** The request the form's values make: whom to call by the chosen way only. */
function requestOf(values: Values): RecordingRequest {
  const base = { name: values.name.trim(), max_seconds: values.max_seconds };
  return values.whom === 'employee'
    ? { ...base, employee_id: values.employee_id ?? null }
    : { ...base, number: (values.number ?? '').trim() };
}

function State({ recording }: { recording: PhoneRecording | undefined }) {
  const { t } = useTranslation();
  if (recording === undefined || recording.status === 'pending')
    return <Alert type="info" showIcon icon={<LoadingOutlined />} title={t('files.record.pending')} />;
  if (recording.status === 'calling')
    return (
      <Alert
        type="info"
        showIcon
        icon={<PhoneOutlined />}
        title={t('files.record.calling')}
        description={t('files.record.callingHint')}
      />
    );
  if (recording.status === 'recorded')
    return (
      <Alert
        type="success"
        showIcon
        icon={<CheckCircleOutlined />}
        title={t('files.record.recorded', { name: recording.name })}
        description={t('files.record.recordedHint')}
      />
    );
  const outcome = OUTCOMES.find((known) => known === recording.outcome) ?? 'failed';
  return (
    <Alert
      type="error"
      showIcon
      icon={<CloseCircleOutlined />}
      title={t(`files.record.outcomes.${outcome}`)}
      description={recording.reason ? t('files.record.reason', { reason: recording.reason }) : undefined}
    />
  );
}

/**
 * FILE-1 «Записать сообщение»: the file's name and whom the PBX calls (an employee, or a number);
 * «Позвонить» asks the API, then the request's state is shown until the sound file is there
 * (the list is refreshed: the new file comes first) or the call failed (the reason, and the form
 * again with what was typed).
 */
export function RecordDialog({
  open,
  onClose,
  employees,
}: {
  open: boolean;
  onClose: () => void;
  employees: Map<number, string> | undefined;
}) {
  const { t, i18n } = useTranslation();
  const client = useQueryClient();
  const [form] = Form.useForm<Values>();
  // undefined until the form is mounted: the employee's picker first
  const toNumber = Form.useWatch('whom', form) === 'number';
  const [recordingId, setRecordingId] = useState<number | null>(null);
  const [refusal, setRefusal] = useState<string | null>(null);
  const start = useStartRecording();
  const recording = useRecording(recordingId);
  const status = recording.data?.status;

  useEffect(() => {
    if (status === 'recorded') void client.invalidateQueries({ queryKey: ['files', 'list'] });
  }, [status, client]);

  const fieldMessage = (item: FieldError): string => {
    const mine = t(`files.record.errors.${item.error_id}`, { defaultValue: '' });
    return mine || describeFieldError(item, t, i18n.language);
  };

  const submit = async (): Promise<void> => {
    const values = await form.validateFields();
    setRefusal(null);
    try {
      const started = await start.mutateAsync(requestOf(values));
      setRecordingId(started.id);
    } catch (error) {
      if (!(error instanceof ApiError) || error.body === null) {
        setRefusal(t('errors.network'));
        return;
      }
      if (error.status === 429) {
        setRefusal(t('files.record.tooMany', { seconds: error.retryAfter ?? 60 }));
        return;
      }
      const placed = error.body.errors.filter((item) => (FIELDS as readonly string[]).includes(item.field));
      form.setFields(placed.map((item) => ({ name: item.field as keyof Values, errors: [fieldMessage(item)] })));
      const others = error.body.errors.filter((item) => !placed.includes(item));
      if (placed.length === 0 || others.length > 0)
        setRefusal(others.map(fieldMessage).join('; ') || messageIn(error.body.message, i18n.language));
    }
  };

  const close = (): void => {
    if (recordingId !== null) void client.invalidateQueries({ queryKey: ['files', 'list'] });
    setRecordingId(null);
    setRefusal(null);
    start.reset();
    form.resetFields();
    onClose();
  };

  const asking = recordingId !== null;
  const over = status === 'recorded' || status === 'failed';
  const footer = asking
    ? [
        status === 'failed' && (
          <Button key="again" onClick={() => setRecordingId(null)}>
            {t('files.record.again')}
          </Button>
        ),
        <Button key="close" type={over ? 'primary' : 'default'} onClick={close}>
          {over ? t('files.record.done') : t('files.record.hide')}
        </Button>,
      ]
    : [
        <Button key="cancel" onClick={close}>
          {t('common.cancel')}
        </Button>,
        <Button
          key="call"
          type="primary"
          icon={<PhoneOutlined />}
          loading={start.isPending}
          onClick={() => void submit().catch(() => undefined)}
        >
          {t('files.record.call')}
        </Button>,
      ];

  return (
    <Modal open={open} title={t('files.record.title')} onCancel={close} footer={footer} destroyOnHidden>
      <div hidden={asking}>
        <Typography.Paragraph type="secondary">{t('files.record.intro')}</Typography.Paragraph>
        <Form<Values>
          form={form}
          layout="vertical"
          initialValues={{ whom: 'employee', max_seconds: 120 }}
          preserve
        >
          <Form.Item
            name="name"
            label={t('files.record.name')}
            rules={[{ required: true, whitespace: true, message: t('files.uploadNameRequired') }]}
          >
            <Input maxLength={200} />
          </Form.Item>
          <Form.Item name="whom" label={t('files.record.whom')}>
            <Radio.Group
              optionType="button"
              options={[
                { value: 'employee', label: t('files.record.toEmployee') },
                { value: 'number', label: t('files.record.toNumber') },
              ]}
            />
          </Form.Item>
          {!toNumber ? (
            <Form.Item
              name="employee_id"
              label={t('files.record.employee')}
              rules={[{ required: true, message: t('files.record.employeeRequired') }]}
            >
              <Select
                showSearch={{ optionFilterProp: 'label' }}
                aria-label={t('files.record.employee')}
                placeholder={t('files.record.employeePlaceholder')}
                options={[...(employees ?? new Map<number, string>())].map(([value, label]) => ({ value, label }))}
              />
            </Form.Item>
          ) : (
            <Form.Item
              name="number"
              label={t('files.record.number')}
              extra={t('files.record.numberHint')}
              rules={[{ required: true, whitespace: true, message: t('files.record.numberRequired') }]}
            >
              <Input inputMode="tel" placeholder="79161234567" maxLength={30} />
            </Form.Item>
          )}
          <Form.Item name="max_seconds" label={t('files.record.maxSeconds')}>
            <InputNumber min={5} max={600} step={5} />
          </Form.Item>
        </Form>
        {refusal !== null && (
          <Alert data-testid="record-error" type="error" showIcon title={t('files.record.refused')} description={refusal} />
        )}
      </div>
      {asking && (
        <Space orientation="vertical" style={{ width: '100%' }} data-testid="record-state">
          <State recording={recording.data} />
        </Space>
      )}
    </Modal>
  );
}
