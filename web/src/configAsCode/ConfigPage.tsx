import { CheckOutlined, DiffOutlined, DownloadOutlined, UploadOutlined } from '@ant-design/icons';
import { Alert, App, Button, Checkbox, Input, Space, Table, Typography, Upload } from 'antd';
import { useState } from 'react';
import { useTranslation } from 'react-i18next';
import { ErrorState } from '../common/ErrorState';
import { exportYaml, importYaml, type ImportOut } from './api';
import { hunks, lineDiff } from './lineDiff';

interface Checked {
  text: string;
  replaceMissing: boolean;
  result: ImportOut;
}

/** ACC-3: download the account's YAML; upload or edit one, see what changes (dry run), apply. */
export default function ConfigPage() {
  const { t } = useTranslation();
  const { message } = App.useApp();
  const [current, setCurrent] = useState<string | null>(null);
  const [text, setText] = useState('');
  const [replaceMissing, setReplaceMissing] = useState(false);
  const [checked, setChecked] = useState<Checked | null>(null);
  const [applied, setApplied] = useState<ImportOut | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [busy, setBusy] = useState(false);

  const run = async (work: () => Promise<void>) => {
    setBusy(true);
    setError(null);
    try {
      await work();
    } catch (failure) {
      setError(failure);
    } finally {
      setBusy(false);
    }
  };

  const download = () =>
    run(async () => {
      const yaml = await exportYaml();
      setCurrent(yaml);
      setText(yaml);
      setChecked(null);
      setApplied(null);
      const link = document.createElement('a');
      link.href = URL.createObjectURL(new Blob([yaml], { type: 'application/yaml' }));
      link.download = 'vpbx-config.yaml';
      link.click();
      URL.revokeObjectURL(link.href);
      void message.success(t('configYaml.downloaded'));
    });

  const check = () =>
    run(async () => {
      setApplied(null);
      const result = await importYaml(text, true, replaceMissing);
      setChecked({ text, replaceMissing, result });
      if (current === null) setCurrent(await exportYaml());
    });

  const apply = () =>
    run(async () => {
      if (checked === null) return;
      const result = await importYaml(checked.text, false, checked.replaceMissing);
      setApplied(result);
      setChecked(null);
      const fresh = await exportYaml();
      setCurrent(fresh);
      setText(fresh);
    });

  const upToDate = checked !== null && checked.text === text && checked.replaceMissing === replaceMissing;
  const sections = checked === null ? [] : Object.entries(checked.result.sections).filter(([, s]) => !s.kept);
  const changes = sections.filter(([, s]) => s.created.length + s.changed.length + s.deleted.length > 0);
  const diff = checked !== null && current !== null ? lineDiff(current, checked.text) : null;

  return (
    <Space orientation="vertical" size="middle" style={{ width: '100%', maxWidth: 1100 }}>
      <Typography.Title level={2} style={{ margin: 0 }}>
        {t('configYaml.title')}
      </Typography.Title>
      <Typography.Paragraph>{t('configYaml.intro')}</Typography.Paragraph>
      <Space wrap>
        <Button icon={<DownloadOutlined />} onClick={() => void download()} loading={busy && current === null}>
          {t('configYaml.download')}
        </Button>
        <Upload
          accept=".yaml,.yml,application/yaml,text/yaml"
          showUploadList={false}
          beforeUpload={(file) => {
            void file.text().then((content) => {
              setText(content);
              setApplied(null);
            });
            return false;
          }}
        >
          <Button icon={<UploadOutlined />}>{t('configYaml.upload')}</Button>
        </Upload>
      </Space>
      <Typography.Text type="secondary">{t('configYaml.secretsMasked')}</Typography.Text>
      {error !== null && <ErrorState error={error} />}
      {applied !== null && (
        <Alert type="success" showIcon role="status" title={t('configYaml.applied', { version: applied.version_id ?? '—' })} />
      )}
      <Input.TextArea
        aria-label={t('configYaml.editor')}
        placeholder={t('configYaml.empty')}
        value={text}
        onChange={(event) => setText(event.target.value)}
        autoSize={{ minRows: 10, maxRows: 28 }}
        spellCheck={false}
        style={{ fontFamily: 'monospace', fontSize: 12 }}
      />
      <Space wrap>
        <Checkbox checked={replaceMissing} onChange={(event) => setReplaceMissing(event.target.checked)}>
          {t('configYaml.replaceMissing')}
        </Checkbox>
        <Typography.Text type="secondary">{t('configYaml.replaceMissingHelp')}</Typography.Text>
      </Space>
      <Space>
        <Button icon={<DiffOutlined />} onClick={() => void check()} disabled={text.trim() === ''} loading={busy && checked === null && current !== null}>
          {t('configYaml.check')}
        </Button>
        <Button type="primary" icon={<CheckOutlined />} onClick={() => void apply()} disabled={!upToDate || busy}>
          {t('configYaml.apply')}
        </Button>
      </Space>
      {checked !== null && !upToDate && <Alert type="warning" showIcon title={t('configYaml.changedSince')} />}
      {checked !== null && (
        <section aria-label={t('configYaml.diff')}>
          <Typography.Title level={4}>{t('configYaml.diff')}</Typography.Title>
          {checked.result.account_changed && <Alert type="info" showIcon title={t('configYaml.account')} style={{ marginBottom: 8 }} />}
          {changes.length === 0 && !checked.result.account_changed ? (
            <Alert type="success" showIcon title={t('configYaml.noChanges')} />
          ) : (
            <Table
              size="small"
              pagination={false}
              rowKey={([name]) => name}
              dataSource={changes}
              columns={[
                { title: t('configYaml.section'), key: 'section', render: (_v: unknown, [name]) => <code>{name}</code> },
                { title: t('configYaml.created'), key: 'created', render: (_v: unknown, [, s]) => s.created.join(', ') || '—' },
                { title: t('configYaml.changed'), key: 'changed', render: (_v: unknown, [, s]) => s.changed.join(', ') || '—' },
                { title: t('configYaml.deleted'), key: 'deleted', render: (_v: unknown, [, s]) => s.deleted.join(', ') || '—' },
              ]}
            />
          )}
          {checked.result.kept.length > 0 && (
            <Typography.Paragraph type="secondary" style={{ marginTop: 8 }}>
              {t('configYaml.kept')}: {checked.result.kept.join(', ')}
            </Typography.Paragraph>
          )}
          {diff !== null && diff.some((line) => line.kind !== 'same') && (
            <pre
              data-testid="yaml-diff"
              style={{ background: '#fafafa', border: '1px solid #f0f0f0', padding: 8, maxHeight: 400, overflow: 'auto', fontSize: 12 }}
            >
              {hunks(diff).map((line, index) =>
                line === null ? (
                  <div key={index}>…</div>
                ) : (
                  <div
                    key={index}
                    style={{ background: line.kind === 'added' ? '#f6ffed' : line.kind === 'removed' ? '#fff1f0' : undefined }}
                  >
                    {line.kind === 'added' ? '+ ' : line.kind === 'removed' ? '- ' : '  '}
                    {line.text}
                  </div>
                ),
              )}
            </pre>
          )}
        </section>
      )}
    </Space>
  );
}
