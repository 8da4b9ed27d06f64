import { ColorPicker, Form, Input, InputNumber, Select, Switch } from 'antd';
import type { Rule } from 'antd/es/form';
import { useTranslation } from 'react-i18next';
import { EMAIL, INTERNATIONAL, normalizePhone } from '../common/validation';
import type { useServerErrors } from '../common/serverErrors';
import { useRefOptions } from './client';
import { labelKey, namePath } from './form';
import type { FieldSpec } from './spec';

type Server = ReturnType<typeof useServerErrors>;

function listRule(check: (value: string) => boolean, message: string): Rule {
  return {
    validator: (_rule, value: unknown) =>
      Array.isArray(value) && value.some((item) => typeof item !== 'string' || !check(item))
        ? Promise.reject(new Error(message))
        : Promise.resolve(),
  };
}

/** The rules a field is checked by as the user types (the API's own, told in the user's language). */
function useRules<D>(field: FieldSpec<D>, creating: boolean): Rule[] {
  const { t } = useTranslation();
  const rules: Rule[] = [];
  const required = t('resources.common.rules.required');
  if (field.required) {
    rules.push(
      field.kind === 'enum' && field.multiple
        ? { required: true, type: 'array', min: 1, message: required }
        : { required: true, whitespace: field.kind === 'text', message: required },
    );
  }
  switch (field.kind) {
    case 'text':
      if (field.max !== undefined) rules.push({ max: field.max, message: t('resources.common.rules.max', { max: field.max }) });
      if (field.pattern !== undefined)
        rules.push({ pattern: field.pattern, message: t(`resources.common.rules.${field.rule ?? 'required'}`) });
      break;
    case 'phone':
      rules.push({
        validator: (_rule, value: unknown) =>
          typeof value !== 'string' || value === '' || INTERNATIONAL.test(normalizePhone(value))
            ? Promise.resolve()
            : Promise.reject(new Error(t('resources.common.rules.phone'))),
      });
      break;
    case 'email':
      rules.push({ pattern: EMAIL, message: t('resources.common.rules.email') });
      break;
    case 'list':
      if (field.phones) rules.push(listRule((v) => INTERNATIONAL.test(normalizePhone(v)), t('resources.common.rules.phone')));
      else if (field.pattern !== undefined) {
        const pattern = field.pattern;
        rules.push(listRule((v) => pattern.test(v), t(`resources.common.rules.${field.rule ?? 'required'}`)));
      }
      break;
    case 'integers': {
      const { min, max, maxItems } = field;
      rules.push(
        listRule((v) => /^\d+$/.test(v) && Number(v) >= min && Number(v) <= max, t('resources.common.rules.integer', { min, max })),
        { type: 'array', max: maxItems, message: t('resources.common.rules.tooMany', { max: maxItems }) },
      );
      break;
    }
    case 'secret':
      // a user's password: required for a new user; when given, as long as the API wants
      if (field.requiredOnCreate && creating) rules.push({ required: true, message: t('resources.common.rules.passwordNew') });
      if (field.min !== undefined) rules.push({ min: field.min, message: t('resources.common.rules.password') });
      break;
    default:
      break;
  }
  return rules;
}

function RefSelect({ target, multiple, ...props }: { target: Parameters<typeof useRefOptions>[0]; multiple: boolean; id?: string }) {
  const options = useRefOptions(target);
  return (
    <Select
      {...props}
      mode={multiple ? 'multiple' : undefined}
      allowClear
      showSearch={{ optionFilterProp: 'label' }}
      loading={options.isPending}
      options={options.data ?? []}
    />
  );
}

/** One field of a generic form: its input, its rules, and the API's 422 under it. */
export function FieldItem<D>({
  resource,
  field,
  server,
  creating,
}: {
  resource: string;
  field: FieldSpec<D>;
  server: Server;
  creating: boolean;
}) {
  const { t } = useTranslation();
  const rules = useRules(field, creating);
  const name = namePath(field.name);
  const label = t(labelKey(resource, field.name));
  const helpKey = `resources.${resource}.help.${field.name.replace(/\./g, '_')}`;
  const item = {
    name,
    label,
    rules,
    tooltip: field.help ? t(helpKey) : undefined,
    ...server.itemProps(name),
  };
  switch (field.kind) {
    case 'switch':
      return (
        <Form.Item {...item} valuePropName="checked">
          <Switch />
        </Form.Item>
      );
    case 'number':
      return (
        <Form.Item {...item}>
          <InputNumber min={field.min} max={field.max} precision={0} style={{ width: '100%' }} />
        </Form.Item>
      );
    case 'enum':
      return (
        <Form.Item {...item}>
          <Select
            mode={field.multiple ? 'multiple' : undefined}
            options={field.options.map((value) => ({ value, label: t(`resources.enums.${field.enumKey}.${value}`) }))}
          />
        </Form.Item>
      );
    case 'ref':
    case 'refs':
      return (
        <Form.Item {...item} normalize={(value: unknown) => value ?? null}>
          <RefSelect target={field.target} multiple={field.kind === 'refs'} />
        </Form.Item>
      );
    case 'list':
      return (
        <Form.Item {...item} extra={t('resources.common.typeAndEnter')}>
          <Select mode="tags" open={false} tokenSeparators={[',', ';']} suffix={null} />
        </Form.Item>
      );
    case 'integers':
      return (
        <Form.Item
          {...item}
          extra={t('resources.common.typeAndEnter')}
          getValueProps={(value: unknown) => ({ value: Array.isArray(value) ? value.map(String) : [] })}
          normalize={(value: unknown) =>
            Array.isArray(value) ? value.map((item) => (/^\d+$/.test(String(item)) ? Number(item) : String(item))) : []
          }
        >
          <Select mode="tags" open={false} tokenSeparators={[',', ';']} suffix={null} />
        </Form.Item>
      );
    case 'color':
      return (
        <Form.Item
          {...item}
          getValueFromEvent={(color: { toHexString: () => string }) => color.toHexString()}
        >
          <ColorPicker showText disabledAlpha />
        </Form.Item>
      );
    case 'secret':
      return (
        <Form.Item {...item} extra={creating ? undefined : t('resources.common.secretKept')}>
          <Input.Password autoComplete="new-password" />
        </Form.Item>
      );
    case 'text':
      return (
        <Form.Item {...item}>
          {field.multiline ? <Input.TextArea autoSize /> : <Input autoComplete="off" />}
        </Form.Item>
      );
    case 'phone':
      return (
        <Form.Item {...item}>
          <Input inputMode="tel" autoComplete="off" placeholder="74951234567" />
        </Form.Item>
      );
    case 'email':
      return (
        <Form.Item {...item}>
          <Input type="email" autoComplete="off" />
        </Form.Item>
      );
  }
}
