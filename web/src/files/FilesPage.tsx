import {
  DeleteOutlined,
  DownloadOutlined,
  PhoneOutlined,
  PlayCircleOutlined,
  UploadOutlined,
} from '@ant-design/icons';
import {
  Alert,
  App,
  Button,
  DatePicker,
  Form,
  Input,
  Modal,
  Popconfirm,
  Select,
  Space,
  Table,
  Tabs,
  Tooltip,
  Typography,
  Upload,
} from 'antd';
import dayjs from 'dayjs';
import { useState } from 'react';
import { useTranslation } from 'react-i18next';
import { useSearchParams } from 'react-router-dom';
import { ApiError } from '../api/errors';
import { canEditConfig, useMe } from '../auth/me';
import { ErrorState } from '../common/ErrorState';
import { useLookups } from '../reports/api';
import { clock, patchFor } from '../reports/filters';
import { fileLink, messageIn, uploadError, useDeleteFile, useFiles, useUploadFile, type AudioFile } from './api';
import { AudioPlayer } from './AudioPlayer';
import { RecordDialog } from './RecordDialog';
import { DAY, fileQuery, KINDS, PAGE } from './query';

function UploadDialog({ open, onClose }: { open: boolean; onClose: () => void }) {
  const { t, i18n } = useTranslation();
  const { message } = App.useApp();
  const [form] = Form.useForm<{ name: string }>();
  const [file, setFile] = useState<File | null>(null);
  const [refusal, setRefusal] = useState<string | null>(null);
  const upload = useUploadFile();
  const submit = async (): Promise<void> => {
    const { name } = await form.validateFields();
    if (file === null) {
      setRefusal(t('files.uploadFileRequired'));
      return;
    }
    setRefusal(null);
    try {
      await upload.mutateAsync({ name, file });
      void message.success(t('files.uploaded'));
      form.resetFields();
      setFile(null);
      onClose();
    } catch (error) {
      setRefusal(uploadError(error, t, i18n.language));
    }
  };
  return (
    <Modal
      open={open}
      title={t('files.uploadTitle')}
      okText={t('files.uploadSubmit')}
      cancelText={t('common.cancel')}
      confirmLoading={upload.isPending}
      onOk={() => void submit().catch(() => undefined)}
      onCancel={onClose}
      destroyOnHidden
    >
      <Form form={form} layout="vertical">
        <Form.Item name="name" label={t('files.uploadName')} rules={[{ required: true, message: t('files.uploadNameRequired') }]}>
          <Input maxLength={200} />
        </Form.Item>
        <Form.Item label={t('files.uploadFile')}>
          <Upload
            maxCount={1}
            accept="audio/*,.wav,.mp3,.ogg,.flac"
            beforeUpload={(chosen) => {
              setFile(chosen);
              setRefusal(null);
              if (!form.getFieldValue('name')) form.setFieldValue('name', chosen.name.replace(/\.[^.]+$/, ''));
              return false; // sent by the dialog's button, not by antd
            }}
            onRemove={() => setFile(null)}
            fileList={file ? [{ uid: 'chosen', name: file.name, status: 'done' }] : []}
          >
            <Button icon={<UploadOutlined />}>{t('files.uploadFile')}</Button>
          </Upload>
        </Form.Item>
      </Form>
      {refusal !== null && (
        <Alert data-testid="upload-error" type="error" showIcon title={t('files.uploadFailed')} description={refusal} />
      )}
    </Modal>
  );
}

async function download(file: AudioFile): Promise<void> {
  const url = await fileLink(file.id, 'original');
  const link = document.createElement('a');
  link.href = url;
  link.download = file.name;
  document.body.append(link);
  link.click();
  link.remove();
}

export default function FilesPage() {
  const { t, i18n } = useTranslation();
  const { message } = App.useApp();
  const [params, setParams] = useSearchParams();
  const me = useMe(true);
  const role = me.data?.role;
  const admin = canEditConfig(role);
  const employee = role === 'employee';
  const query = fileQuery(params);
  const kind = query.kind ?? 'voicemail';
  const list = useFiles(query);
  const lookups = useLookups(role).data;
  const remove = useDeleteFile();
  const [playing, setPlaying] = useState<number | null>(null);
  const [uploading, setUploading] = useState(false);
  const [recording, setRecording] = useState(false);
  const locale = i18n.language === 'en' ? 'en-GB' : 'ru-RU';
  const calls = kind === 'voicemail' || kind === 'recording';
  const page = Math.floor((query.offset ?? 0) / PAGE) + 1;

  const update = (changes: Record<string, string | number | null>): void => {
    const next = new URLSearchParams(params);
    for (const [key, value] of Object.entries(patchFor(changes))) {
      if (value === null) next.delete(key);
      else next.set(key, value);
    }
    setParams(next, { replace: true });
  };

  const deleteFile = async (file: AudioFile): Promise<void> => {
    try {
      await remove.mutateAsync(file.id);
      void message.success(t('files.deleted'));
    } catch (error) {
      if (error instanceof ApiError && error.status === 409 && error.body)
        void message.error(t('files.inUse', { usages: error.body.usages.join(', ') || messageIn(error.body.message, i18n.language) }));
      else void message.error(t('files.deleteFailed'));
    }
  };

  const from = params.get('from');
  const to = params.get('to');
  const options = (names: Map<number, string> | undefined) =>
    [...(names ?? new Map<number, string>())].map(([value, label]) => ({ value, label }));

  return (
    <Space orientation="vertical" size="middle" style={{ width: '100%' }}>
      <Space style={{ width: '100%', justifyContent: 'space-between', flexWrap: 'wrap' }}>
        <Typography.Title level={2} style={{ margin: 0 }}>
          {employee ? t('files.myTitle') : t('files.title')}
        </Typography.Title>
        {admin && kind === 'sound' && (
          <Space>
            <Button icon={<PhoneOutlined />} onClick={() => setRecording(true)}>
              {t('files.recordByPhone')}
            </Button>
            <Button type="primary" icon={<UploadOutlined />} onClick={() => setUploading(true)}>
              {t('files.upload')}
            </Button>
          </Space>
        )}
      </Space>
      <Tabs
        activeKey={kind}
        onChange={(next) => update({ kind: next === 'voicemail' ? null : next })}
        items={(employee ? (['voicemail', 'recording'] as const) : KINDS).map((k) => ({
          key: k,
          label: t(`files.tabs.${k}`),
        }))}
      />
      {calls && (
        <Space wrap data-testid="file-filters">
          <DatePicker.RangePicker
            aria-label={t('files.filters.period')}
            value={[from && DAY.test(from) ? dayjs(from) : null, to && DAY.test(to) ? dayjs(to) : null]}
            allowEmpty={[true, true]}
            onChange={(_dates, [start, end]) => update({ from: start || null, to: end || null })}
          />
          <Input.Search
            allowClear
            aria-label={t('files.filters.caller')}
            placeholder={t('files.filters.callerPlaceholder')}
            defaultValue={params.get('caller') ?? ''}
            onSearch={(value) => update({ caller: value.trim() })}
            style={{ width: 200 }}
          />
          {!employee && (
            <>
              <Select
                allowClear
                showSearch={{ optionFilterProp: 'label' }}
                aria-label={t('files.filters.number')}
                placeholder={t('files.filters.number')}
                value={query.number_id ?? undefined}
                onChange={(value: number | undefined) => update({ number: value ?? null })}
                options={options(lookups?.numbers)}
                style={{ width: 220 }}
              />
              <Select
                allowClear
                showSearch={{ optionFilterProp: 'label' }}
                aria-label={t('files.filters.employee')}
                placeholder={t('files.filters.employee')}
                value={query.employee_id ?? undefined}
                onChange={(value: number | undefined) => update({ employee: value ?? null })}
                options={options(lookups?.employees)}
                style={{ width: 200 }}
              />
            </>
          )}
          <Button onClick={() => update({ from: null, to: null, caller: null, number: null, employee: null })}>
            {t('files.filters.reset')}
          </Button>
        </Space>
      )}
      {list.isError ? (
        <ErrorState error={list.error} onRetry={() => void list.refetch()} />
      ) : (
        <Table<AudioFile>
          rowKey="id"
          size="middle"
          data-testid="files-table"
          loading={list.isFetching}
          dataSource={list.data?.items ?? []}
          scroll={{ x: 'max-content' }}
          pagination={{
            current: page,
            pageSize: PAGE,
            total: list.data?.total ?? 0,
            showSizeChanger: false,
            showTotal: (total) => t('common.total', { count: total }),
          }}
          onChange={(pagination) => {
            update({ page: pagination.current && pagination.current > 1 ? pagination.current : null });
          }}
          columns={[
            { key: 'name', title: t('files.columns.name'), dataIndex: 'name' },
            {
              key: 'created_at',
              title: t('files.columns.created_at'),
              render: (_v: unknown, row) => (row.created_at ? new Date(row.created_at).toLocaleString(locale) : ''),
            },
            ...(calls
              ? [
                  { key: 'caller', title: t('files.columns.caller'), render: (_v: unknown, row: AudioFile) => row.caller ?? '' },
                  { key: 'called', title: t('files.columns.called'), render: (_v: unknown, row: AudioFile) => row.called ?? '' },
                ]
              : []),
            ...(calls && !employee
              ? [
                  {
                    key: 'employee',
                    title: t('files.columns.employee'),
                    render: (_v: unknown, row: AudioFile) =>
                      row.employee_id == null ? '' : (lookups?.employees.get(row.employee_id) ?? `#${row.employee_id}`),
                  },
                ]
              : []),
            {
              key: 'duration',
              title: t('files.columns.duration'),
              render: (_v: unknown, row) => clock(row.duration_seconds),
            },
            {
              key: 'play',
              title: t('files.columns.play'),
              render: (_v: unknown, row) =>
                row.size_bytes === 0 && row.duration_seconds === 0 ? null : playing === row.id ? (
                  <AudioPlayer fileId={row.id} name={row.name} />
                ) : (
                  <Button
                    size="small"
                    icon={<PlayCircleOutlined />}
                    aria-label={t('player.label', { name: row.name })}
                    onClick={() => setPlaying(row.id)}
                  />
                ),
            },
            {
              key: 'actions',
              title: t('files.columns.actions'),
              render: (_v: unknown, row) => (
                <Space size={4}>
                  <Tooltip title={t('files.download')}>
                    <Button
                      size="small"
                      icon={<DownloadOutlined />}
                      aria-label={t('files.download')}
                      onClick={() => void download(row).catch(() => message.error(t('player.failed')))}
                    />
                  </Tooltip>
                  {admin && (
                    <Popconfirm
                      title={t('files.deleteConfirm', { name: row.name })}
                      okText={t('files.delete')}
                      okButtonProps={{ danger: true }}
                      cancelText={t('common.cancel')}
                      onConfirm={() => void deleteFile(row)}
                    >
                      <Button size="small" danger icon={<DeleteOutlined />} aria-label={t('files.delete')} />
                    </Popconfirm>
                  )}
                </Space>
              ),
            },
          ]}
        />
      )}
      <UploadDialog open={uploading} onClose={() => setUploading(false)} />
      <RecordDialog open={recording} onClose={() => setRecording(false)} employees={lookups?.employees} />
    </Space>
  );
}
