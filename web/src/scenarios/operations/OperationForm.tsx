/**
 * One operation of a scenario, whole: key, kind, title, the kind's own fields, its exits and the
 * lint warnings about it. Controlled (value, onChange, errors, ctx): the scenario page lists these,
 * and the visual editor's side panel can show one for the selected node.
 */
import { Alert, Col, Input, Row, Select, Space } from 'antd';
import type { ReactNode } from 'react';
import { useTranslation } from 'react-i18next';
import type { OperationContext } from './context';
import { ForwardForm, ExtensionForm, PersonalManagerForm } from './dialing';
import { ExitsEditor } from './ExitsEditor';
import { Field } from './fields';
import { LintAlerts } from './lint';
import type { Lint } from './lintText';
import { changeKind, KINDS, type Operation } from './model';
import { AuthForm, InfoForm, MenuForm, VoicemailForm } from './prompting';
import { InsertForm, InteractiveForm, RegionForm, SegmentForm, VisitForm } from './routing';
import { isShown } from './serverErrors';
import type { FieldErrors } from './validate';

/** The kind's own fields (exits and the common ones aside). */
export function OperationFields({
  value,
  onChange,
  errors,
  ctx,
}: {
  value: Operation;
  onChange: (value: Operation) => void;
  errors: FieldErrors;
  ctx: OperationContext;
}): ReactNode {
  const props = { errors, ctx, onChange };
  switch (value.kind) {
    case 'auth':
      return <AuthForm {...props} value={value} />;
    case 'voicemail':
      return <VoicemailForm {...props} value={value} />;
    case 'info':
      return <InfoForm {...props} value={value} />;
    case 'menu':
      return <MenuForm {...props} value={value} />;
    case 'forward':
      return <ForwardForm {...props} value={value} />;
    case 'extension':
      return <ExtensionForm {...props} value={value} />;
    case 'personal_manager':
      return <PersonalManagerForm {...props} value={value} />;
    case 'insert':
      return <InsertForm {...props} value={value} />;
    case 'interactive':
      return <InteractiveForm {...props} value={value} />;
    case 'visit':
      return <VisitForm {...props} value={value} />;
    case 'region':
      return <RegionForm {...props} value={value} />;
    case 'segment':
      return <SegmentForm {...props} value={value} />;
  }
}

export function OperationForm({
  value,
  onChange,
  errors,
  ctx,
  lint = [],
}: {
  value: Operation;
  onChange: (value: Operation) => void;
  errors: FieldErrors;
  ctx: OperationContext;
  /** the warnings about this operation */
  lint?: readonly Lint[];
}) {
  const { t } = useTranslation();
  const id = (name: string) => `${ctx.idPrefix}-${name}`;
  const unshown = Object.entries(errors)
    .filter(([path]) => !isShown(value, path))
    .map(([path, messages]) => (path ? `${path}: ${messages.join('; ')}` : messages.join('; ')));
  return (
    <Space orientation="vertical" style={{ width: '100%' }}>
      {unshown.length > 0 && <Alert type="error" showIcon role="alert" title={unshown.join('; ')} />}
      <Row gutter={12}>
        <Col xs={24} md={6}>
          <Field id={id('key')} label={t('scenarios.key')} errors={errors} path="key" tooltip={t('scenarios.keyRule')}>
            <Input id={id('key')} autoComplete="off" value={value.key} onChange={(event) => onChange({ ...value, key: event.target.value })} />
          </Field>
        </Col>
        <Col xs={24} md={9}>
          <Field id={id('kind')} label={t('scenarios.kind')} errors={errors} path="kind">
            <Select
              id={id('kind')}
              value={value.kind}
              onChange={(kind) => onChange(changeKind(value, kind))}
              options={KINDS.map((kind) => ({ value: kind, label: t(`scenarios.kinds.${kind}`) }))}
            />
          </Field>
        </Col>
        <Col xs={24} md={9}>
          <Field id={id('title')} label={t('scenarios.operationTitle')} errors={errors} path="title">
            <Input id={id('title')} autoComplete="off" maxLength={200} value={value.title} onChange={(event) => onChange({ ...value, title: event.target.value })} />
          </Field>
        </Col>
      </Row>
      <OperationFields value={value} onChange={onChange} errors={errors} ctx={ctx} />
      <ExitsEditor value={value} onChange={onChange} errors={errors} ctx={ctx} />
      <LintAlerts warnings={lint} />
    </Space>
  );
}
