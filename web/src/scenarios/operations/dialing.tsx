/** The operations that ring someone: forward (SCN-FWD, DST), extension (SCN-EXT), personal manager (SCN-PM). */
import { Card, Checkbox, Col, Input, InputNumber, Row, Select, Space, Switch } from 'antd';
import { useTranslation } from 'react-i18next';
import { Field, FileSelect, FilesSelect } from './fields';
import { requiredNumber, STRATEGIES, type Op } from './model';
import type { OperationProps } from './props';
import { TargetsEditor } from './targets';
import type { FieldErrors } from './validate';

type Distribution = Op<'forward'>['distribution'];

function DistributionEditor({
  value,
  onChange,
  errors,
  idPrefix,
}: {
  value: Distribution;
  onChange: (value: Distribution) => void;
  errors: FieldErrors;
  idPrefix: string;
}) {
  const { t } = useTranslation();
  const id = (name: string) => `${idPrefix}-distribution-${name}`;
  const number = (name: 'simultaneous_lines' | 'ring_timeout' | 'wrapup_seconds' | 'initial_lines' | 'add_line_every', min: number, max: number, optional = false) => (
    <Col xs={12} md={8} key={name}>
      <Field id={id(name)} label={t(`scenarios.fields.distribution_${name}`)} errors={errors} path={`distribution.${name}`} help={optional ? t('scenarios.fromGroup') : undefined}>
        <InputNumber<number>
          id={id(name)}
          min={min}
          max={max}
          precision={0}
          style={{ width: '100%' }}
          value={value[name] ?? null}
          onChange={(next) => onChange({ ...value, [name]: optional ? next : requiredNumber(next) })}
        />
      </Field>
    </Col>
  );
  return (
    <Card size="small" type="inner" title={t('scenarios.distribution')}>
      <Row gutter={12}>
        {number('simultaneous_lines', 1, 100, true)}
        {number('ring_timeout', 5, 300, true)}
        {number('wrapup_seconds', 0, 3600)}
        {number('initial_lines', 1, 100)}
        {number('add_line_every', 1, 300)}
        <Col xs={12} md={8}>
          <Space orientation="vertical">
            <Checkbox checked={value.queue} onChange={(event) => onChange({ ...value, queue: event.target.checked })}>
              {t('scenarios.fields.distribution_queue')}
            </Checkbox>
            <Checkbox checked={value.percentage} onChange={(event) => onChange({ ...value, percentage: event.target.checked })}>
              {t('scenarios.fields.distribution_percentage')}
            </Checkbox>
          </Space>
        </Col>
      </Row>
    </Card>
  );
}

export function ForwardForm({ value, onChange, errors, ctx }: OperationProps<'forward'>) {
  const { t } = useTranslation();
  const id = (name: string) => `${ctx.idPrefix}-${name}`;
  const flag = (name: 'tag_after_call' | 'rate_after_call' | 'record') => (
    <Checkbox key={name} checked={value[name]} onChange={(event) => onChange({ ...value, [name]: event.target.checked })}>
      {t(`scenarios.fields.${name}`)}
    </Checkbox>
  );
  return (
    <Space orientation="vertical" style={{ width: '100%' }}>
      <TargetsEditor value={value.targets} onChange={(targets) => onChange({ ...value, targets })} errors={errors} ctx={ctx} />
      <Row gutter={12}>
        <Col xs={24} md={12}>
          <Field id={id('strategy')} label={t('scenarios.fields.strategy')} errors={errors} path="strategy">
            <Select
              id={id('strategy')}
              value={value.strategy}
              onChange={(strategy) => onChange({ ...value, strategy })}
              options={STRATEGIES.map((strategy) => ({ value: strategy, label: t(`scenarios.strategies.${strategy}`) }))}
            />
          </Field>
        </Col>
        <Col xs={24} md={12}>
          <Field id={id('ringback_file_ids')} label={t('scenarios.fields.ringback_file_ids')} errors={errors} path="ringback_file_ids">
            <FilesSelect id={id('ringback_file_ids')} ctx={ctx} value={value.ringback_file_ids} onChange={(ringback_file_ids) => onChange({ ...value, ringback_file_ids })} placeholder={t('scenarios.ringbackTone')} />
          </Field>
        </Col>
      </Row>
      <DistributionEditor value={value.distribution} onChange={(distribution) => onChange({ ...value, distribution })} errors={errors} idPrefix={ctx.idPrefix} />
      <Row gutter={12}>
        <Col xs={24} md={8}>
          <Field id={id('queue_message_file_id')} label={t('scenarios.fields.queue_message_file_id')} errors={errors} path="queue_message_file_id">
            <FileSelect id={id('queue_message_file_id')} ctx={ctx} value={value.queue_message_file_id} onChange={(queue_message_file_id) => onChange({ ...value, queue_message_file_id })} />
          </Field>
        </Col>
        <Col xs={24} md={8}>
          <Field id={id('operator_message_file_id')} label={t('scenarios.fields.operator_message_file_id')} errors={errors} path="operator_message_file_id">
            <FileSelect id={id('operator_message_file_id')} ctx={ctx} value={value.operator_message_file_id} onChange={(operator_message_file_id) => onChange({ ...value, operator_message_file_id })} />
          </Field>
        </Col>
        <Col xs={24} md={8}>
          <Field id={id('operator_message_text')} label={t('scenarios.fields.operator_message_text')} errors={errors} path="operator_message_text" help={t('scenarios.operatorTextHelp')}>
            <Input.TextArea id={id('operator_message_text')} rows={1} maxLength={2000} value={value.operator_message_text} onChange={(event) => onChange({ ...value, operator_message_text: event.target.value })} />
          </Field>
        </Col>
      </Row>
      <Space wrap>{(['tag_after_call', 'rate_after_call', 'record'] as const).map(flag)}</Space>
    </Space>
  );
}

export function ExtensionForm({ value, onChange, errors, ctx }: OperationProps<'extension'>) {
  const { t } = useTranslation();
  const id = (name: string) => `${ctx.idPrefix}-${name}`;
  return (
    <Row gutter={12}>
      <Col xs={24} md={12}>
        <Field id={id('prompt_file_id')} label={t('scenarios.fields.prompt_file_id')} errors={errors} path="prompt_file_id">
          <FileSelect id={id('prompt_file_id')} ctx={ctx} value={value.prompt_file_id} onChange={(prompt_file_id) => onChange({ ...value, prompt_file_id })} />
        </Field>
      </Col>
      <Col xs={24} md={12}>
        <Field id={id('ringback_file_ids')} label={t('scenarios.fields.ringback_file_ids')} errors={errors} path="ringback_file_ids">
          <FilesSelect id={id('ringback_file_ids')} ctx={ctx} value={value.ringback_file_ids} onChange={(ringback_file_ids) => onChange({ ...value, ringback_file_ids })} placeholder={t('scenarios.ringbackTone')} />
        </Field>
      </Col>
      <Col xs={12} md={12}>
        <Field id={id('inter_digit_timeout')} label={t('scenarios.fields.inter_digit_timeout')} errors={errors} path="inter_digit_timeout">
          <InputNumber<number> id={id('inter_digit_timeout')} min={1} max={60} style={{ width: '100%' }} value={value.inter_digit_timeout} onChange={(next) => onChange({ ...value, inter_digit_timeout: requiredNumber(next) })} />
        </Field>
      </Col>
      <Col xs={12} md={12}>
        <Field id={id('from_menu')} label={t('scenarios.fields.from_menu')} errors={errors} path="from_menu" help={t('scenarios.fromMenuHelp')}>
          <Switch id={id('from_menu')} checked={value.from_menu} onChange={(from_menu) => onChange({ ...value, from_menu })} />
        </Field>
      </Col>
    </Row>
  );
}

export function PersonalManagerForm({ value, onChange, errors, ctx }: OperationProps<'personal_manager'>) {
  const { t } = useTranslation();
  const id = (name: string) => `${ctx.idPrefix}-${name}`;
  return (
    <Row gutter={12}>
      <Col xs={24} md={12}>
        <Field id={id('ringback_file_ids')} label={t('scenarios.fields.ringback_file_ids')} errors={errors} path="ringback_file_ids">
          <FilesSelect id={id('ringback_file_ids')} ctx={ctx} value={value.ringback_file_ids} onChange={(ringback_file_ids) => onChange({ ...value, ringback_file_ids })} placeholder={t('scenarios.ringbackTone')} />
        </Field>
      </Col>
      <Col xs={24} md={12}>
        <Field id={id('ring_timeout')} label={t('scenarios.fields.ring_timeout')} errors={errors} path="ring_timeout">
          <InputNumber<number> id={id('ring_timeout')} min={5} max={300} style={{ width: '100%' }} value={value.ring_timeout} onChange={(next) => onChange({ ...value, ring_timeout: requiredNumber(next) })} />
        </Field>
      </Col>
    </Row>
  );
}
