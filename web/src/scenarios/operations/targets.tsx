/** SCN-FWD: the forward's targets in ring order: groups, employees (all phones or one) and outside numbers. */
import { ArrowDownOutlined, ArrowUpOutlined, DeleteOutlined, PlusOutlined } from '@ant-design/icons';
import { Button, Input, Select, Space, Typography } from 'antd';
import { useTranslation } from 'react-i18next';
import { normalizePhone } from '../../common/validation';
import { employeeName, type OperationContext } from './context';
import { EMPTY_TARGET, targetKind, type Target, type TargetKind } from './model';
import type { FieldErrors } from './validate';

export function TargetsEditor({
  value,
  onChange,
  errors,
  ctx,
}: {
  value: readonly Target[];
  onChange: (value: Target[]) => void;
  errors: FieldErrors;
  ctx: OperationContext;
}) {
  const { t } = useTranslation();
  const set = (index: number, target: Target) => onChange(value.map((item, i) => (i === index ? target : item)));
  const move = (from: number, to: number) => {
    const next = [...value];
    const [moved] = next.splice(from, 1);
    if (moved !== undefined) next.splice(to, 0, moved);
    onChange(next);
  };
  const listErrors = errors.targets ?? [];
  return (
    <Space orientation="vertical" style={{ width: '100%' }} aria-label={t('scenarios.fields.targets')} role="list">
      <Typography.Text strong>{t('scenarios.fields.targets')}</Typography.Text>
      <Typography.Text type="secondary">{t('scenarios.targetsHelp')}</Typography.Text>
      {value.map((target, index) => {
        const kind = targetKind(target);
        const id = `${ctx.idPrefix}-target-${index}`;
        const rowErrors = [...(errors[`targets.${index}`] ?? []), ...Object.entries(errors).filter(([path]) => path.startsWith(`targets.${index}.`)).flatMap(([, m]) => m)];
        const label = t('scenarios.targetN', { index: index + 1 });
        const employee = kind === 'employee' ? ctx.employees.find((e) => e.id === target.employee_id) : undefined;
        return (
          <div key={index} role="listitem" aria-label={label}>
            <Space wrap align="start">
              <Select<TargetKind>
                aria-label={`${label}: ${t('scenarios.targetKind')}`}
                style={{ width: 150 }}
                value={kind}
                onChange={(next) => set(index, EMPTY_TARGET[next])}
                options={(['group', 'employee', 'number'] as const).map((k) => ({ value: k, label: t(`scenarios.targetKinds.${k}`) }))}
              />
              {kind === 'group' && (
                <Select<number>
                  id={id}
                  aria-label={`${label}: ${t('scenarios.targetKinds.group')}`}
                  style={{ width: 260 }}
                  showSearch={{ optionFilterProp: 'label' }}
                  status={rowErrors.length > 0 ? 'error' : undefined}
                  value={target.group_id ?? undefined}
                  onChange={(group_id) => set(index, { ...target, group_id })}
                  options={ctx.groups.map((g) => ({ value: g.id, label: g.name }))}
                />
              )}
              {kind === 'employee' && (
                <>
                  <Select<number>
                    id={id}
                    aria-label={`${label}: ${t('scenarios.targetKinds.employee')}`}
                    style={{ width: 260 }}
                    showSearch={{ optionFilterProp: 'label' }}
                    status={rowErrors.length > 0 ? 'error' : undefined}
                    value={target.employee_id ?? undefined}
                    onChange={(employee_id) => set(index, { ...target, employee_id, phone_id: null })}
                    options={ctx.employees.map((e) => ({ value: e.id, label: employeeName(e) }))}
                  />
                  <Select<string>
                    aria-label={`${label}: ${t('scenarios.phone')}`}
                    style={{ width: 220 }}
                    allowClear
                    placeholder={t('scenarios.allPhones')}
                    value={target.phone_id ?? undefined}
                    onChange={(phone_id: string | undefined) => set(index, { ...target, phone_id: phone_id ?? null })}
                    options={(employee?.phones ?? [])
                      .filter((phone) => phone.id)
                      .map((phone) => ({ value: phone.id ?? '', label: `${t(`scenarios.phoneKinds.${phone.kind}`)} ${phone.number ?? phone.sip_uri ?? ''}`.trim() }))
                      .concat(target.phone_id && !employee?.phones.some((p) => p.id === target.phone_id) ? [{ value: target.phone_id, label: target.phone_id }] : [])}
                  />
                </>
              )}
              {kind === 'number' && (
                <Input
                  id={id}
                  aria-label={`${label}: ${t('scenarios.targetKinds.number')}`}
                  style={{ width: 260 }}
                  inputMode="tel"
                  autoComplete="off"
                  placeholder="74951234567"
                  status={rowErrors.length > 0 ? 'error' : undefined}
                  value={target.number ?? ''}
                  onChange={(event) => set(index, { ...target, number: event.target.value })}
                  onBlur={(event) => set(index, { ...target, number: normalizePhone(event.target.value) })}
                />
              )}
              <Button icon={<ArrowUpOutlined />} aria-label={`${t('common.moveUp')} ${label}`} disabled={index === 0} onClick={() => move(index, index - 1)} />
              <Button icon={<ArrowDownOutlined />} aria-label={`${t('common.moveDown')} ${label}`} disabled={index === value.length - 1} onClick={() => move(index, index + 1)} />
              <Button danger icon={<DeleteOutlined />} aria-label={`${t('common.remove')} ${label}`} onClick={() => onChange(value.filter((_, i) => i !== index))} />
            </Space>
            {rowErrors.length > 0 && (
              <Typography.Text type="danger" style={{ display: 'block' }}>
                {rowErrors.join('; ')}
              </Typography.Text>
            )}
          </div>
        );
      })}
      {listErrors.length > 0 && <Typography.Text type="danger">{listErrors.join('; ')}</Typography.Text>}
      <Space wrap>
        {(['group', 'employee', 'number'] as const).map((kind) => (
          <Button key={kind} size="small" icon={<PlusOutlined />} onClick={() => onChange([...value, EMPTY_TARGET[kind]])}>
            {t(`scenarios.addTarget.${kind}`)}
          </Button>
        ))}
      </Space>
    </Space>
  );
}
