/** A list of branches, each a value of its own (a CRM code, a region, a segment) and the operation it leads to. */
import { DeleteOutlined, PlusOutlined } from '@ant-design/icons';
import { Button, Space, Typography } from 'antd';
import type { ReactNode } from 'react';
import { useTranslation } from 'react-i18next';
import type { OperationContext } from './context';
import { ExitSelect } from './fields';
import type { FieldErrors } from './validate';

interface Branch {
  target?: string | null;
}

export function BranchList<B extends Branch>({
  title,
  itemLabel,
  value,
  onChange,
  errors,
  path,
  self,
  ctx,
  fresh,
  renderValue,
  addLabel,
}: {
  title: string;
  itemLabel: (index: number) => string;
  value: readonly B[];
  onChange: (value: B[]) => void;
  errors: FieldErrors;
  /** the field's name in the operation (`codes`, `branches`) */
  path: string;
  self: string;
  ctx: OperationContext;
  fresh: () => B;
  renderValue: (branch: B, set: (branch: B) => void, label: string, invalid: boolean) => ReactNode;
  addLabel: string;
}) {
  const { t } = useTranslation();
  const set = (index: number, branch: B) => onChange(value.map((item, i) => (i === index ? branch : item)));
  return (
    <Space orientation="vertical" style={{ width: '100%' }} role="list" aria-label={title}>
      <Typography.Text strong>{title}</Typography.Text>
      {value.map((branch, index) => {
        const label = itemLabel(index);
        const own = Object.entries(errors)
          .filter(([name]) => name === `${path}.${index}` || name.startsWith(`${path}.${index}.`))
          .flatMap(([, messages]) => messages);
        const valueInvalid = Object.keys(errors).some((name) => name.startsWith(`${path}.${index}.`) && !name.endsWith('.target'));
        return (
          <div key={index} role="listitem" aria-label={label}>
            <Space wrap align="start">
              {renderValue(branch, (next) => set(index, next), label, valueInvalid)}
              <span style={{ display: 'inline-block', width: 280 }} aria-label={`${label}: ${t('scenarios.branchTarget')}`}>
                <ExitSelect
                  id={`${ctx.idPrefix}-${path}-${index}-target`}
                  value={branch.target}
                  onChange={(target) => set(index, { ...branch, target })}
                  self={self}
                  ctx={ctx}
                />
              </span>
              <Button danger icon={<DeleteOutlined />} aria-label={`${t('common.remove')} ${label}`} onClick={() => onChange(value.filter((_, i) => i !== index))} />
            </Space>
            {own.length > 0 && (
              <Typography.Text type="danger" style={{ display: 'block' }}>
                {own.join('; ')}
              </Typography.Text>
            )}
          </div>
        );
      })}
      {(errors[path] ?? []).length > 0 && <Typography.Text type="danger">{(errors[path] ?? []).join('; ')}</Typography.Text>}
      <Button size="small" icon={<PlusOutlined />} onClick={() => onChange([...value, fresh()])}>
        {addLabel}
      </Button>
    </Space>
  );
}
