import { Button, Col, Form, Row, Space } from 'antd';
import type { ComponentType } from 'react';
import { useTranslation } from 'react-i18next';
import { useNavigate, useParams } from 'react-router-dom';
import { EditFrame } from '../entities/EditFrame';
import { useEntityForm } from '../entities/useEntityForm';
import { useResource, useSaveResource } from './client';
import { FieldItem } from './FieldItem';
import { labelKey, toDocument, toValues } from './form';
import type { Doc, Draft, Out, ResourceName, ResourceSpec } from './spec';
import { WebhookDeliveries } from './WebhookDeliveries';

/** What some screens show below their form (a webhook's delivery log). */
const BELOW: Partial<Record<ResourceName, ComponentType<{ id: number }>>> = { webhooks: WebhookDeliveries };

/**
 * The form of one entity of any generic resource: its fields as the description says, each
 * checked as the user types and showing the API's 422 under it; saved with If-Match (a 412
 * keeps the input and says someone else changed it).
 */
export function ResourceEditPage<R extends ResourceName>({ spec }: { spec: ResourceSpec<R> }) {
  const { t } = useTranslation();
  const navigate = useNavigate();
  const params = useParams();
  const id = params.id === undefined || params.id === 'new' ? null : Number(params.id);
  const query = useResource(spec.name, id);
  const save = useSaveResource(spec.name, id);
  const names = new Set(spec.fields.map((field) => field.name as string));
  const state = useEntityForm<Draft<Doc<R>>, Out<R>, Partial<Doc<R>>>({
    resource: spec.name,
    id,
    query,
    save,
    toValues: (entity) => toValues<Doc<R>>(entity, spec.readonlyOut),
    fields: (field) => names.has(field) || [...names].some((name) => field.startsWith(`${name}.`)),
    created: t('resources.common.created'),
  });
  const watched = Form.useWatch([], { form: state.form, preserve: true }) as Draft<Doc<R>> | undefined;
  const values = watched ?? (spec.empty as Draft<Doc<R>>);
  const visible = spec.fields.filter((field) => field.when === undefined || field.when(values));
  const title =
    id === null
      ? t(labelKey(spec.name, 'new'))
      : t(labelKey(spec.name, 'editTitle'), { name: state.loaded ? spec.nameOf(state.loaded) : '' });
  const name: ResourceName = spec.name;
  const Below = id === null ? undefined : BELOW[name];

  return (
    <EditFrame state={state} back={`/${spec.name}`} title={title} readOnly={t('resources.common.readOnly')} maxWidth={960}>
      <Form<Draft<Doc<R>>>
        form={state.form}
        layout="vertical"
        initialValues={id === null ? (spec.empty) : undefined}
        disabled={!state.editable}
        onFinish={() => {
          const all = state.form.getFieldsValue(true) as Draft<Doc<R>>;
          state.submit(toDocument(spec.fields, all, state.loaded ?? spec.empty, spec.readonlyOut));
        }}
        onValuesChange={(changed: Record<string, unknown>) => state.server.clear(changed)}
        scrollToFirstError
      >
        <Row gutter={16}>
          {visible.map((field) => (
            <Col key={field.name} xs={24} md={field.span ?? 12}>
              <FieldItem resource={spec.name} field={field} server={state.server} creating={id === null} />
            </Col>
          ))}
        </Row>
        {state.editable && (
          <Space>
            <Button type="primary" htmlType="submit" loading={state.saving}>
              {id === null ? t('common.create') : t('common.save')}
            </Button>
            <Button onClick={() => void navigate(`/${spec.name}`)}>{t('common.cancel')}</Button>
          </Space>
        )}
      </Form>
      {Below !== undefined && id !== null && <Below id={id} />}
    </EditFrame>
  );
}
