/** The operations that speak to the caller and wait: authorization, voicemail, info message, menu. */
import { Col, Input, InputNumber, Row, Select, Switch } from 'antd';
import { useTranslation } from 'react-i18next';
import { Field, FileSelect, FilesSelect } from './fields';
import { requiredNumber } from './model';
import type { OperationProps } from './props';


export function AuthForm({ value, onChange, errors, ctx }: OperationProps<'auth'>) {
  const { t } = useTranslation();
  const id = (name: string) => `${ctx.idPrefix}-${name}`;
  return (
    <Row gutter={12}>
      <Col xs={24} md={12}>
        <Field id={id('prompt_file_id')} label={t('scenarios.fields.prompt_file_id')} errors={errors} path="prompt_file_id">
          <FileSelect id={id('prompt_file_id')} ctx={ctx} value={value.prompt_file_id} onChange={(prompt_file_id) => onChange({ ...value, prompt_file_id })} placeholder={t('scenarios.standardPrompt')} />
        </Field>
      </Col>
      <Col xs={12} md={6}>
        <Field id={id('code')} label={t('scenarios.fields.code')} errors={errors} path="code">
          <Input id={id('code')} inputMode="numeric" autoComplete="off" value={value.code} onChange={(event) => onChange({ ...value, code: event.target.value })} />
        </Field>
      </Col>
      <Col xs={12} md={6}>
        <Field id={id('inter_digit_timeout')} label={t('scenarios.fields.inter_digit_timeout')} errors={errors} path="inter_digit_timeout">
          <InputNumber<number> id={id('inter_digit_timeout')} min={1} max={60} style={{ width: '100%' }} value={value.inter_digit_timeout} onChange={(next) => onChange({ ...value, inter_digit_timeout: requiredNumber(next) })} />
        </Field>
      </Col>
    </Row>
  );
}

export function VoicemailForm({ value, onChange, errors, ctx }: OperationProps<'voicemail'>) {
  const { t } = useTranslation();
  const id = (name: string) => `${ctx.idPrefix}-${name}`;
  const emailErrors = Object.entries(errors)
    .filter(([path]) => path === 'emails' || path.startsWith('emails.'))
    .flatMap(([, messages]) => messages);
  return (
    <Row gutter={12}>
      <Col xs={24} md={12}>
        <Field id={id('prompt_file_id')} label={t('scenarios.fields.prompt_file_id')} errors={errors} path="prompt_file_id">
          <FileSelect id={id('prompt_file_id')} ctx={ctx} value={value.prompt_file_id} onChange={(prompt_file_id) => onChange({ ...value, prompt_file_id })} placeholder={t('scenarios.standardPrompt')} />
        </Field>
      </Col>
      <Col xs={24} md={12}>
        <Field id={id('max_seconds')} label={t('scenarios.fields.max_seconds')} errors={errors} path="max_seconds">
          <InputNumber<number> id={id('max_seconds')} min={5} max={600} style={{ width: '100%' }} value={value.max_seconds} onChange={(next) => onChange({ ...value, max_seconds: requiredNumber(next) })} />
        </Field>
      </Col>
      <Col xs={24}>
        <Field id={id('emails')} label={t('scenarios.fields.emails')} errors={{ emails: emailErrors }} path="emails" help={t('scenarios.typeAndEnter')}>
          <Select<string[]>
            id={id('emails')}
            mode="tags"
            open={false}
            suffix={null}
            tokenSeparators={[',', ';', ' ']}
            value={value.emails}
            onChange={(emails) => onChange({ ...value, emails: emails.map((email) => email.trim()).filter(Boolean) })}
          />
        </Field>
      </Col>
    </Row>
  );
}

export function InfoForm({ value, onChange, errors, ctx }: OperationProps<'info'>) {
  const { t } = useTranslation();
  const id = (name: string) => `${ctx.idPrefix}-${name}`;
  return (
    <Row gutter={12}>
      <Col xs={24} md={12}>
        <Field id={id('file_ids')} label={t('scenarios.fields.file_ids')} errors={errors} path="file_ids">
          <FilesSelect id={id('file_ids')} ctx={ctx} value={value.file_ids} onChange={(file_ids) => onChange({ ...value, file_ids })} />
        </Field>
      </Col>
      <Col xs={24} md={12}>
        <Field id={id('text')} label={t('scenarios.fields.text')} errors={errors} path="text" help={t('scenarios.infoHelp')}>
          <Input.TextArea id={id('text')} rows={2} maxLength={2000} value={value.text} onChange={(event) => onChange({ ...value, text: event.target.value })} />
        </Field>
      </Col>
    </Row>
  );
}

export function MenuForm({ value, onChange, errors, ctx }: OperationProps<'menu'>) {
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
        <Field id={id('prompt_text')} label={t('scenarios.fields.prompt_text')} errors={errors} path="prompt_text" help={t('scenarios.promptTextHelp')}>
          <Input.TextArea id={id('prompt_text')} rows={1} maxLength={2000} value={value.prompt_text} onChange={(event) => onChange({ ...value, prompt_text: event.target.value })} />
        </Field>
      </Col>
      <Col xs={12} md={6}>
        <Field id={id('timeout')} label={t('scenarios.fields.timeout')} errors={errors} path="timeout">
          <InputNumber<number> id={id('timeout')} min={1} max={60} style={{ width: '100%' }} value={value.timeout} onChange={(next) => onChange({ ...value, timeout: requiredNumber(next) })} />
        </Field>
      </Col>
      <Col xs={12} md={18}>
        <Field id={id('hash_returns')} label={t('scenarios.fields.hash_returns')} errors={errors} path="hash_returns">
          <Switch id={id('hash_returns')} checked={value.hash_returns} onChange={(hash_returns) => onChange({ ...value, hash_returns })} />
        </Field>
      </Col>
    </Row>
  );
}
