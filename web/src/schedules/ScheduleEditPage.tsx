import { DeleteOutlined, PlusOutlined } from '@ant-design/icons';
import { Button, Checkbox, Col, Form, Input, InputNumber, Row, Space, Switch, Table, Typography, type FormInstance } from 'antd';
import { useTranslation } from 'react-i18next';
import { useParams } from 'react-router-dom';
import { EditFrame } from '../entities/EditFrame';
import { EntityFormBody } from '../entities/EntityFormBody';
import { useEntityForm } from '../entities/useEntityForm';
import { useSaveSchedule, useSchedule, type Schedule, type ScheduleOut } from './api';
import { MonthPreview } from './MonthPreview';
import { hhmm, type Interval } from './preview';

interface Values {
  name: string;
  kind: Schedule['kind'];
  weekly: Interval[][]; // index 0 = Monday … 6 = Sunday
  dates: number[];
  dates_intervals: Interval[];
  on_days: number;
  off_days: number;
  start_date: string;
  cycle_intervals: Interval[];
  use_production_calendar: boolean;
  active_from: string;
  active_to: string;
}

const NINE_TO_SIX: Interval[] = [{ start: '09:00', end: '18:00' }];
const EMPTY: Values = {
  name: '',
  kind: 'weekly',
  weekly: [NINE_TO_SIX, NINE_TO_SIX, NINE_TO_SIX, NINE_TO_SIX, NINE_TO_SIX, [], []],
  dates: [],
  dates_intervals: NINE_TO_SIX,
  on_days: 2,
  off_days: 2,
  start_date: new Date().toISOString().slice(0, 10),
  cycle_intervals: NINE_TO_SIX,
  use_production_calendar: false,
  active_from: '',
  active_to: '',
};
const TIME = /^([01]\d|2[0-3]):[0-5]\d$/;
const FIELDS = ['name', 'kind', 'weekly', 'dates', 'cycle', 'use_production_calendar', 'active_from', 'active_to'];

const short = (items: readonly Interval[]) => items.map((item) => ({ start: hhmm(item.start), end: hhmm(item.end) }));

function toValues(data: ScheduleOut): Values {
  const weekly = [1, 2, 3, 4, 5, 6, 7].map((weekday) => short(data.weekly.find((day) => day.weekday === weekday)?.intervals ?? []));
  return {
    ...EMPTY,
    name: data.name,
    kind: data.kind,
    weekly,
    dates: data.dates?.days ?? [],
    dates_intervals: short(data.dates?.intervals ?? NINE_TO_SIX),
    on_days: data.cycle?.on_days ?? 2,
    off_days: data.cycle?.off_days ?? 2,
    start_date: data.cycle?.start_date ?? EMPTY.start_date,
    cycle_intervals: short(data.cycle?.intervals ?? NINE_TO_SIX),
    use_production_calendar: data.use_production_calendar,
    active_from: data.active_from ?? '',
    active_to: data.active_to ?? '',
  };
}

function complete(items: readonly Interval[] | undefined): Interval[] {
  return (items ?? []).filter((item) => TIME.test(item.start) && TIME.test(item.end));
}

/** The form as the API's schedule; only the chosen kind's rule is sent. */
function toDocument(values: Values): Schedule {
  return {
    name: values.name,
    kind: values.kind,
    weekly:
      values.kind === 'weekly'
        ? values.weekly
            .map((intervals, index) => ({ weekday: index + 1, intervals: complete(intervals) }))
            .filter((day) => day.intervals.length > 0)
        : [],
    dates: values.kind === 'dates' ? { days: [...values.dates].sort((a, b) => a - b), intervals: complete(values.dates_intervals) } : null,
    cycle:
      values.kind === 'cycle'
        ? {
            on_days: values.on_days,
            off_days: values.off_days,
            start_date: values.start_date,
            intervals: complete(values.cycle_intervals),
          }
        : null,
    use_production_calendar: values.use_production_calendar,
    active_from: values.active_from === '' ? null : values.active_from,
    active_to: values.active_to === '' ? null : values.active_to,
  };
}

/** One day's intervals (breaks are several), edited as HH:MM pairs. */
function Intervals({ name, label, disabled }: { name: (string | number)[]; label: string; disabled: boolean }) {
  const { t } = useTranslation();
  return (
    <Form.List name={name}>
      {(items, { add, remove }) => (
        <Space wrap>
          {items.map((item, index) => (
            <Space.Compact key={item.key}>
              <Form.Item name={[item.name, 'start']} noStyle rules={[{ pattern: TIME, message: t('schedules.timeRule') }]}>
                <Input style={{ width: 72 }} aria-label={`${label} ${index + 1} ${t('schedules.start')}`} placeholder="09:00" />
              </Form.Item>
              <Form.Item name={[item.name, 'end']} noStyle rules={[{ pattern: TIME, message: t('schedules.timeRule') }]}>
                <Input style={{ width: 72 }} aria-label={`${label} ${index + 1} ${t('schedules.end')}`} placeholder="18:00" />
              </Form.Item>
              <Button icon={<DeleteOutlined />} aria-label={`${t('common.remove')} ${label} ${index + 1}`} onClick={() => remove(index)} disabled={disabled} />
            </Space.Compact>
          ))}
          <Button
            size="small"
            icon={<PlusOutlined />}
            aria-label={`${t('schedules.addInterval')} ${label}`}
            onClick={() => add({ start: '', end: '' })}
            disabled={disabled}
          />
        </Space>
      )}
    </Form.List>
  );
}

function Preview({ form }: { form: FormInstance<Values> }) {
  const values = Form.useWatch([], { form, preserve: true }) as Values | undefined;
  return <MonthPreview spec={toDocument({ ...EMPTY, ...values })} />;
}

export default function ScheduleEditPage() {
  const { t } = useTranslation();
  const params = useParams();
  const id = params.id === undefined ? null : Number(params.id);
  const schedule = useSchedule(id);
  const state = useEntityForm<Values, ScheduleOut, Schedule>({
    resource: 'schedules',
    id,
    query: schedule,
    save: useSaveSchedule(id),
    toValues,
    fields: (field) => FIELDS.some((name) => field === name || field.startsWith(`${name}.`)),
    created: t('schedules.created'),
  });
  const { form, server, editable } = state;
  const kind = Form.useWatch('kind', { form, preserve: true }) as Values['kind'] | undefined;
  const title = id === null ? t('schedules.new') : t('schedules.editTitle', { name: schedule.data?.data.name ?? '' });

  return (
    <EditFrame state={state} back="/schedules" title={title} readOnly={t('schedules.readOnly')}>
      <EntityFormBody state={state} initialValues={EMPTY} isNew={id === null} onFinish={(values) => state.submit(toDocument(values))}>
        <Row gutter={16}>
          <Col xs={24} md={12}>
            <Form.Item
              name="name"
              label={t('schedules.name')}
              rules={[{ required: true, whitespace: true, message: t('schedules.nameRequired') }, { max: 200 }]}
              {...server.itemProps(['name'])}
            >
              <Input autoComplete="off" />
            </Form.Item>
          </Col>
        </Row>
        <Form.Item name="kind" hidden>
          <Input />
        </Form.Item>
        <Space style={{ marginBottom: 16 }} role="radiogroup" aria-label={t('schedules.kind')}>
          {(['weekly', 'dates', 'cycle'] as const).map((value) => (
            <Button
              key={value}
              role="radio"
              aria-checked={kind === value}
              type={kind === value ? 'primary' : 'default'}
              onClick={() => form.setFieldValue('kind', value)}
            >
              {t(`schedules.kinds.${value}`)}
            </Button>
          ))}
        </Space>
        {kind === 'weekly' && (
          <>
            <Typography.Paragraph type="secondary">{t('schedules.weeklyHelp')}</Typography.Paragraph>
            <Table
              size="small"
              pagination={false}
              rowKey="weekday"
              dataSource={[1, 2, 3, 4, 5, 6, 7].map((weekday) => ({ weekday }))}
              columns={[
                { title: '', key: 'day', width: 60, render: (_v: unknown, row: { weekday: number }) => t(`schedules.weekdays.${row.weekday}`) },
                {
                  title: t('schedules.intervals'),
                  key: 'intervals',
                  render: (_v: unknown, row: { weekday: number }) => (
                    <Intervals name={['weekly', row.weekday - 1]} label={t(`schedules.weekdays.${row.weekday}`)} disabled={!editable} />
                  ),
                },
              ]}
            />
          </>
        )}
        {kind === 'dates' && (
          <>
            <Form.Item name="dates" label={t('schedules.dates')} {...server.itemProps(['dates', 'days'])}>
              <Checkbox.Group
                style={{ display: 'grid', gridTemplateColumns: 'repeat(7, 56px)', gap: 4 }}
                options={Array.from({ length: 31 }, (_, index) => ({ value: index + 1, label: String(index + 1) }))}
              />
            </Form.Item>
            <Form.Item label={t('schedules.intervals')}>
              <Intervals name={['dates_intervals']} label={t('schedules.intervals')} disabled={!editable} />
            </Form.Item>
          </>
        )}
        {kind === 'cycle' && (
          <Row gutter={16}>
            <Col xs={12} md={6}>
              <Form.Item name="on_days" label={t('schedules.onDays')} {...server.itemProps(['cycle', 'on_days'])}>
                <InputNumber min={1} max={366} precision={0} style={{ width: '100%' }} />
              </Form.Item>
            </Col>
            <Col xs={12} md={6}>
              <Form.Item name="off_days" label={t('schedules.offDays')} {...server.itemProps(['cycle', 'off_days'])}>
                <InputNumber min={0} max={366} precision={0} style={{ width: '100%' }} />
              </Form.Item>
            </Col>
            <Col xs={24} md={12}>
              <Form.Item name="start_date" label={t('schedules.startDate')} rules={[{ required: true }]} {...server.itemProps(['cycle', 'start_date'])}>
                <Input type="date" />
              </Form.Item>
            </Col>
            <Col xs={24}>
              <Form.Item label={t('schedules.intervals')}>
                <Intervals name={['cycle_intervals']} label={t('schedules.intervals')} disabled={!editable} />
              </Form.Item>
            </Col>
          </Row>
        )}
        <Row gutter={16}>
          <Col xs={24} md={8}>
            <Form.Item name="use_production_calendar" label={t('schedules.calendar')} tooltip={t('schedules.calendarHelp')} valuePropName="checked">
              <Switch />
            </Form.Item>
          </Col>
          <Col xs={12} md={8}>
            <Form.Item name="active_from" label={t('schedules.activeFrom')} {...server.itemProps(['active_from'])}>
              <Input type="date" />
            </Form.Item>
          </Col>
          <Col xs={12} md={8}>
            <Form.Item name="active_to" label={t('schedules.activeTo')} {...server.itemProps(['active_to'])}>
              <Input type="date" />
            </Form.Item>
          </Col>
        </Row>
        <Preview form={form} />
      </EntityFormBody>
    </EditFrame>
  );
}
