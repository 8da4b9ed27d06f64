/** The building blocks of the operation forms: a labelled field with its errors, file pickers, exit selects. */
import { CaretRightOutlined, CloseOutlined } from '@ant-design/icons';
import { Button, Form, Select, Space } from 'antd';
import { useState, type ReactNode } from 'react';
import { useTranslation } from 'react-i18next';
import { AudioPlayer } from '../../files/AudioPlayer';
import type { OperationContext } from './context';
import { useOperationLabel } from './labels';
import type { Operation } from './model';
import type { FieldErrors } from './validate';

/** A field of an operation: label pointing at `id`, its messages (the form's and the API's) under it. */
export function Field({
  id,
  label,
  errors,
  path,
  help,
  tooltip,
  children,
}: {
  id: string;
  label: ReactNode;
  errors: FieldErrors;
  path: string;
  help?: ReactNode;
  tooltip?: string;
  children: ReactNode;
}) {
  const messages = errors[path] ?? [];
  return (
    <Form.Item
      label={label}
      htmlFor={id}
      tooltip={tooltip}
      validateStatus={messages.length > 0 ? 'error' : undefined}
      help={messages.length > 0 ? messages.join('; ') : help}
      style={{ marginBottom: 12 }}
    >
      {children}
    </Form.Item>
  );
}

function fileLabel(ctx: OperationContext, id: number): string {
  return ctx.files.find((file) => file.id === id)?.name ?? `#${id}`;
}

/** A play button that opens the file's player under it (the file base's AudioPlayer). */
function PlayButton({ fileId, name }: { fileId: number; name: string }) {
  const { t } = useTranslation();
  const [open, setOpen] = useState(false);
  return (
    <Space orientation="vertical" size={4} style={{ width: '100%' }}>
      <Button
        size="small"
        icon={open ? <CloseOutlined /> : <CaretRightOutlined />}
        aria-label={t(open ? 'scenarios.stop' : 'scenarios.play', { name })}
        onClick={() => setOpen(!open)}
      >
        {name}
      </Button>
      {open && <AudioPlayer fileId={fileId} name={name} autoPlay />}
    </Space>
  );
}

/** One file of the file base (or none), with a play button for the chosen one. */
export function FileSelect({
  id,
  value,
  onChange,
  ctx,
  placeholder,
}: {
  id: string;
  value: number | null | undefined;
  onChange: (value: number | null) => void;
  ctx: OperationContext;
  placeholder?: string;
}) {
  const options = fileOptions(ctx, value === null || value === undefined ? [] : [value]);
  return (
    <Space orientation="vertical" size={4} style={{ width: '100%' }}>
      <Select<number>
        id={id}
        allowClear
        showSearch={{ optionFilterProp: 'label' }}
        placeholder={placeholder}
        value={value ?? undefined}
        onChange={(next: number | undefined) => onChange(next ?? null)}
        options={options}
      />
      {value !== null && value !== undefined && <PlayButton fileId={value} name={fileLabel(ctx, value)} />}
    </Space>
  );
}

/** Several files in order (a ringback loop, an info message), each with a play button. */
export function FilesSelect({
  id,
  value,
  onChange,
  ctx,
  placeholder,
}: {
  id: string;
  value: readonly number[];
  onChange: (value: number[]) => void;
  ctx: OperationContext;
  placeholder?: string;
}) {
  return (
    <Space orientation="vertical" size={4} style={{ width: '100%' }}>
      <Select<number[]>
        id={id}
        mode="multiple"
        showSearch={{ optionFilterProp: 'label' }}
        placeholder={placeholder}
        value={[...value]}
        onChange={(next) => onChange(next)}
        options={fileOptions(ctx, value)}
      />
      {value.map((fileId, index) => (
        <PlayButton key={`${fileId}-${index}`} fileId={fileId} name={fileLabel(ctx, fileId)} />
      ))}
    </Space>
  );
}

function fileOptions(ctx: OperationContext, chosen: readonly number[]) {
  const options = ctx.files.map((file) => ({ value: file.id, label: file.name }));
  // a file the list lacks (deleted, not loaded yet) still shows as chosen
  for (const id of chosen) if (!ctx.files.some((file) => file.id === id)) options.push({ value: id, label: `#${id}` });
  return options;
}

/**
 * Where an exit leads: another operation of the scenario, or nothing («Завершить звонок»).
 * `accept` narrows the choice (a menu's extension input takes a special operation only).
 */
export function ExitSelect({
  id,
  value,
  onChange,
  self,
  ctx,
  accept,
}: {
  id: string;
  value: string | null | undefined;
  onChange: (value: string | null) => void;
  self: string;
  ctx: OperationContext;
  accept?: (op: Operation) => boolean;
}) {
  const { t } = useTranslation();
  const label = useOperationLabel();
  const options = ctx.operations
    .filter((op) => op.key !== self && op.key !== '' && (accept === undefined || accept(op)))
    .map((op) => ({ value: op.key, label: label(op) }));
  if (value && !options.some((option) => option.value === value)) {
    const linked = ctx.operations.find((op) => op.key === value);
    options.push({ value, label: linked ? label(linked) : t('scenarios.missingOperation', { key: value }) });
  }
  return (
    <Select<string>
      id={id}
      allowClear
      showSearch={{ optionFilterProp: 'label' }}
      placeholder={t('scenarios.exitEnds')}
      value={value ?? undefined}
      onChange={(next: string | undefined) => onChange(next ?? null)}
      options={options}
    />
  );
}
