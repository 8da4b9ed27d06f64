import type { UseMutationResult, UseQueryResult } from '@tanstack/react-query';
import { App, Form, type FormInstance } from 'antd';
import { useEffect } from 'react';
import { useTranslation } from 'react-i18next';
import { useLocation, useNavigate } from 'react-router-dom';
import { canEditConfig, useMe } from '../auth/me';
import { useServerErrors } from '../common/serverErrors';
import { isStale, type Versioned } from './versioned';

export interface EntityForm<V, T, B = unknown> {
  form: FormInstance<V>;
  editable: boolean;
  loading: boolean;
  loadError: unknown;
  stale: boolean;
  otherError: unknown;
  unplaced: string[];
  saving: boolean;
  server: ReturnType<typeof useServerErrors>;
  loaded: T | undefined;
  reload: () => void;
  /** save; `overwrite`: without If-Match, replacing whatever someone else saved meanwhile */
  submit: (body: B, overwrite?: boolean) => void;
}

/**
 * A configuration form over one entity: fills the form from the loaded version, saves with the
 * ETag it was loaded with (If-Match), keeps the user's input on a 412/422/409, and reloads on
 * demand (which replaces the input with the stored entity).
 */
export function useEntityForm<V, T extends { id: number }, B, S extends { id: number } = T>({
  resource,
  id,
  query,
  save,
  toValues,
  fields,
  created,
}: {
  resource: string;
  id: number | null;
  query: UseQueryResult<Versioned<T>>;
  save: UseMutationResult<Versioned<S>, Error, { body: B; etag: string | null }>;
  toValues: (entity: T) => V;
  /** the names of the form's own fields: the API's errors on others are shown above it */
  fields: (field: string) => boolean;
  created: string;
}): EntityForm<V, T, B> {
  const { t } = useTranslation();
  const { message } = App.useApp();
  const navigate = useNavigate();
  const location = useLocation();
  const me = useMe(true);
  const server = useServerErrors();
  const [form] = Form.useForm<V>();
  const loaded = query.data;

  useEffect(() => {
    if (loaded !== undefined) form.setFieldsValue(toValues(loaded.data));
    // toValues is a pure mapping: the loaded version alone decides
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [form, loaded]);

  const stale = isStale(save.error);
  const unplaced = server.unplaced(fields);
  return {
    form,
    editable: canEditConfig(me.data?.role),
    loading: me.isPending || (id !== null && query.isPending),
    loadError: id !== null && query.isError ? query.error : null,
    stale,
    otherError: save.isError && !stale && server.errors.length === 0 ? save.error : null,
    unplaced,
    saving: save.isPending,
    server,
    loaded: loaded?.data,
    reload: () => {
      void query.refetch().then(() => {
        save.reset();
        server.reset();
      });
    },
    submit: (body: B, overwrite = false) => {
      server.reset();
      save.mutate(
        { body, etag: overwrite ? null : (loaded?.etag ?? null) },
        {
          onSuccess: (saved) => {
            void message.success(id === null ? created : t('common.saved'));
            // the new entity's own address, in the same view (the scenario page's «Схема» stays)
            if (id === null) void navigate(`/${resource}/${saved.data.id}${location.search}`, { replace: true });
          },
          onError: (error) => {
            if (server.take(error)) void message.error(t('errors.fixFields'));
          },
        },
      );
    },
  };
}
