import { LeftOutlined, RightOutlined } from '@ant-design/icons';
import { Alert, Button, Space, Tooltip, Typography } from 'antd';
import { useMemo, useState } from 'react';
import { useTranslation } from 'react-i18next';
import { useCalendarOverrides } from '../entities/lookups';
import { useProductionYear } from './api';
import { hhmm, monthPreview, nationalCalendar, type PreviewDay, type ScheduleDoc } from './preview';

/** SCH-3: a month of the schedule — active days green with their hours, days off grey, holidays red. */
export function MonthPreview({ spec, today = new Date() }: { spec: ScheduleDoc; today?: Date }) {
  const { t, i18n } = useTranslation();
  const overrides = useCalendarOverrides();
  const [shown, setShown] = useState({ year: today.getFullYear(), month: today.getMonth() + 1 });
  const production = useProductionYear(shown.year);
  const corrections = useMemo(
    () => new Map((overrides.data?.items ?? []).map((item) => [item.date, item.working] as const)),
    [overrides.data],
  );
  const national = useMemo(() => nationalCalendar(production.data?.days ?? []), [production.data]);
  const days = monthPreview(spec, shown.year, shown.month, corrections, national);
  const step = (delta: number) => {
    const index = shown.year * 12 + (shown.month - 1) + delta;
    setShown({ year: Math.floor(index / 12), month: (index % 12) + 1 });
  };
  const english = i18n.language === 'en';
  const label = new Date(Date.UTC(shown.year, shown.month - 1, 1)).toLocaleDateString(english ? 'en-GB' : 'ru-RU', {
    month: 'long',
    year: 'numeric',
    timeZone: 'UTC',
  });
  const lead = (days[0]?.weekday ?? 1) - 1;
  const active = days.filter((day) => day.intervals.length > 0).length;
  const unknownYear = production.isError;
  const calendarNote = (day: PreviewDay): string => {
    const entry = day.national;
    if (entry === null) return '';
    const name = english ? entry.name_en : entry.name_ru;
    const kind = t(`schedules.nationalKinds.${entry.kind}`);
    const text = name != null && entry.kind === 'holiday' ? name : name != null ? `${kind}: ${name}` : kind;
    return entry.shortened && entry.kind !== 'shortened' ? `${text}, ${t('schedules.nationalKinds.shortened')}` : text;
  };
  return (
    <section aria-label={t('schedules.preview')}>
      <Typography.Title level={4}>{t('schedules.preview')}</Typography.Title>
      <Space style={{ marginBottom: 8 }}>
        <Button size="small" icon={<LeftOutlined />} aria-label={t('schedules.prevMonth')} onClick={() => step(-1)} />
        <Typography.Text strong data-testid="preview-month">
          {label}
        </Typography.Text>
        <Button size="small" icon={<RightOutlined />} aria-label={t('schedules.nextMonth')} onClick={() => step(1)} />
        <Typography.Text type="secondary">{t('schedules.activeDays', { count: active })}</Typography.Text>
      </Space>
      <div style={{ display: 'grid', gridTemplateColumns: 'repeat(7, minmax(72px, 1fr))', gap: 4, maxWidth: 760 }}>
        {(['1', '2', '3', '4', '5', '6', '7'] as const).map((weekday) => (
          <Typography.Text key={weekday} type="secondary" style={{ textAlign: 'center' }}>
            {t(`schedules.weekdays.${weekday}`)}
          </Typography.Text>
        ))}
        {Array.from({ length: lead }, (_, index) => (
          <div key={`lead-${index}`} />
        ))}
        {days.map((day) => {
          const on = day.intervals.length > 0;
          const hours = day.intervals.map((item) => `${hhmm(item.start)}–${hhmm(item.end)}`).join(', ');
          const holiday = day.national?.kind === 'holiday' || day.national?.kind === 'day_off';
          const note = [on ? hours : t('schedules.off'), calendarNote(day), day.overridden ? t('schedules.overridden') : '']
            .filter(Boolean)
            .join('; ');
          return (
            <Tooltip key={day.date} title={note}>
              <div
                data-testid={`day-${day.day}`}
                data-active={on ? 'yes' : 'no'}
                data-calendar={day.national?.kind ?? ''}
                aria-label={`${day.date}: ${note}`}
                style={{
                  border: day.overridden ? '2px dashed #fa8c16' : '1px solid #d9d9d9',
                  borderRadius: 6,
                  padding: 4,
                  minHeight: 48,
                  background: on ? '#f6ffed' : '#fafafa',
                  color: on ? '#237804' : '#8c8c8c',
                  fontSize: 12,
                }}
              >
                <div style={{ fontWeight: 600, color: holiday ? '#cf1322' : undefined }}>
                  {day.day}
                  {day.national?.shortened === true && <span title={t('schedules.nationalKinds.shortened')}> *</span>}
                </div>
                <div>{on ? hours : t('schedules.off')}</div>
              </div>
            </Tooltip>
          );
        })}
      </div>
      {spec.use_production_calendar && (
        <Alert
          style={{ marginTop: 8, maxWidth: 760 }}
          type={unknownYear ? 'warning' : 'info'}
          showIcon
          title={unknownYear ? t('schedules.calendarUnknown', { year: shown.year }) : t('schedules.previewNote')}
        />
      )}
    </section>
  );
}
