import { Button, Form } from 'antd';
import type { ReactNode } from 'react';
import { useTranslation } from 'react-i18next';
import type { EntityForm } from './useEntityForm';

/**
 * The form of a configuration entity: vertical, read-only unless the role may edit, an API
 * error cleared when its field changes, and the create/save button at the end.
 */
export function EntityFormBody<V, T, B>({
  state,
  initialValues,
  isNew,
  onFinish,
  blocked = false,
  onValuesChange,
  children,
}: {
  state: EntityForm<V, T, B>;
  initialValues: V;
  isNew: boolean;
  onFinish: (values: V) => void;
  /** a rule of the page not met (the save button stays disabled) */
  blocked?: boolean;
  /** instead of clearing the API's errors of the changed top-level fields (a page with nested editors clears its own) */
  onValuesChange?: (changed: Record<string, unknown>) => void;
  children: ReactNode;
}) {
  const { t } = useTranslation();
  return (
    <Form<V>
      form={state.form}
      layout="vertical"
      initialValues={initialValues as object}
      disabled={!state.editable}
      onFinish={onFinish}
      onValuesChange={(changed: Record<string, unknown>) => (onValuesChange ?? state.server.clear)(changed)}
    >
      {children}
      <Form.Item style={{ marginTop: 16 }}>
        <Button type="primary" htmlType="submit" loading={state.saving} disabled={!state.editable || blocked}>
          {isNew ? t('common.create') : t('common.save')}
        </Button>
      </Form.Item>
    </Form>
  );
}
