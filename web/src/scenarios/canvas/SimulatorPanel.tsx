/**
 * Simulate a call on the diagram: a number, a caller, a time, the keys pressed and who answers go to
 * POST /simulate (the engine of live calls, on a virtual clock); the path of the call through this
 * scenario lights up step by step beside its details.
 */
import { CaretRightOutlined, PauseOutlined, StepBackwardOutlined, StepForwardOutlined, VerticalLeftOutlined, VerticalRightOutlined } from '@ant-design/icons';
import { useMutation, useQuery } from '@tanstack/react-query';
import { Alert, Button, Form, Input, Radio, Select, Slider, Space, Typography } from 'antd';
import { memo, useEffect, useMemo, useRef, useState } from 'react';
import { useTranslation } from 'react-i18next';
import { api } from '../../api/client';
import { unwrap } from '../../api/errors';
import { ErrorState } from '../../common/ErrorState';
import type { Employee } from '../operations/context';
import type { GraphEdge } from './graph';
import { simulationFrames, zonedIso, type Frame } from './simulation';

type AnswerMode = 'all' | 'nobody' | 'some';

function localNow(): string {
  const now = new Date();
  const pad = (n: number) => String(n).padStart(2, '0');
  return `${now.getFullYear()}-${pad(now.getMonth() + 1)}-${pad(now.getDate())}T${pad(now.getHours())}:${pad(now.getMinutes())}`;
}

export const SimulatorPanel = memo(function SimulatorPanel({
  scenarioId,
  unsaved,
  edges,
  employees,
  onFrame,
}: {
  scenarioId: number | null;
  unsaved: boolean;
  edges: readonly GraphEdge[];
  employees: readonly Employee[];
  onFrame: (frame: Frame | null) => void;
}) {
  const { t, i18n } = useTranslation();
  const s = (key: string, options?: Record<string, unknown>) => t(`scenarios.canvas.sim.${key}`, options ?? {});
  const numbers = useQuery({
    queryKey: ['numbers', 'list', 'all'],
    queryFn: () => unwrap(api.GET('/api/v1/numbers', { params: { query: { limit: 1000, offset: 0, sort: 'number' } } })),
  });
  const account = useQuery({ queryKey: ['account'], queryFn: () => unwrap(api.GET('/api/v1/account')), retry: false });
  const timeZone = account.data?.timezone ?? Intl.DateTimeFormat().resolvedOptions().timeZone;
  const options = useMemo(() => {
    const items = numbers.data?.items ?? [];
    const uses = (item: (typeof items)[number]) => scenarioId !== null && item.rules.some((rule) => rule.scenario_id === scenarioId);
    return [...items]
      .sort((a, b) => Number(uses(b)) - Number(uses(a)))
      .map((item) => ({ value: item.number, label: uses(item) ? s('usesScenario', { number: item.number }) : `${item.number}${item.name ? ` — ${item.name}` : ''}` }));
    // s is t bound to a prefix
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [numbers.data, scenarioId, i18n.language]);
  const [number, setNumber] = useState<string | undefined>(undefined);
  const [caller, setCaller] = useState('79161234567');
  const [at, setAt] = useState(localNow);
  const [keys, setKeys] = useState('');
  const [mode, setMode] = useState<AnswerMode>('all');
  const [answer, setAnswer] = useState<string[]>([]);
  const [busy, setBusy] = useState<string[]>([]);
  const [index, setIndex] = useState(0);
  const [playing, setPlaying] = useState(false);
  const chosen = number ?? options[0]?.value;
  const extensions = employees.filter((e) => e.extension).map((e) => ({ value: e.extension as string, label: `${e.extension} — ${e.last_name} ${e.first_name}`.trim() }));

  const run = useMutation({
    mutationFn: () =>
      unwrap(
        api.POST('/api/v1/simulate', {
          body: {
            number: chosen ?? '',
            caller,
            at: zonedIso(at, timeZone),
            keys,
            answer: mode === 'some' ? answer : [],
            busy: mode === 'nobody' ? [] : busy,
            no_answer: mode === 'nobody',
            talk_seconds: 60,
          },
        }),
      ),
    onSuccess: () => {
      setIndex(0);
      setPlaying(true);
    },
  });
  const steps = useMemo(() => run.data?.steps ?? [], [run.data]);
  const frames = useMemo(() => (scenarioId === null ? [] : simulationFrames(steps, scenarioId, edges)), [steps, scenarioId, edges]);
  const last = Math.max(frames.length - 1, 0);
  const frame = frames[Math.min(index, last)] ?? null;

  useEffect(() => {
    onFrame(frame);
  }, [frame, onFrame]);
  useEffect(() => () => onFrame(null), [onFrame]);
  const running = playing && index < last;
  // the current step stays in view inside the list (the page itself does not scroll)
  const list = useRef<HTMLOListElement>(null);
  useEffect(() => {
    const box = list.current;
    const item = box?.querySelector<HTMLElement>('[aria-current]');
    if (box && item) box.scrollTop = Math.max(0, item.offsetTop - box.clientHeight / 2);
  }, [index, steps]);
  useEffect(() => {
    if (!running) return;
    const timer = window.setTimeout(() => setIndex((i) => i + 1), 450);
    return () => window.clearTimeout(timer);
  }, [running, index]);

  if (scenarioId === null) return <Alert type="info" showIcon title={s('newScenario')} />;
  return (
    <Space orientation="vertical" style={{ width: '100%' }} aria-label={t('scenarios.canvas.simulateTab')}>
      <Typography.Text type="secondary">{s('help')}</Typography.Text>
      {unsaved && <Alert type="warning" showIcon title={s('unsaved')} />}
      <Form layout="vertical" component="div" disabled={false}>
        <Form.Item label={s('number')} htmlFor="sim-number" style={{ marginBottom: 8 }} help={options.length === 0 && !numbers.isPending ? s('noNumbers') : undefined}>
          <Select id="sim-number" value={chosen} onChange={setNumber} options={options} loading={numbers.isPending} />
        </Form.Item>
        <Space wrap>
          <Form.Item label={s('caller')} htmlFor="sim-caller" style={{ marginBottom: 8 }}>
            <Input id="sim-caller" value={caller} onChange={(e) => setCaller(e.target.value)} style={{ width: 150 }} />
          </Form.Item>
          <Form.Item label={s('at')} htmlFor="sim-at" style={{ marginBottom: 8 }} tooltip={timeZone}>
            <Input id="sim-at" type="datetime-local" value={at} onChange={(e) => setAt(e.target.value)} style={{ width: 200 }} />
          </Form.Item>
        </Space>
        <Form.Item label={s('keys')} htmlFor="sim-keys" help={s('keysHelp')} style={{ marginBottom: 8 }}>
          <Input id="sim-keys" value={keys} onChange={(e) => setKeys(e.target.value.replace(/[^0-9*#,]/g, ''))} />
        </Form.Item>
        <Form.Item label={s('answer')} style={{ marginBottom: 8 }}>
          <Radio.Group
            value={mode}
            onChange={(e) => setMode(e.target.value as AnswerMode)}
            options={[
              { value: 'all', label: s('answerAll') },
              { value: 'nobody', label: s('answerNobody') },
              { value: 'some', label: s('answerSome') },
            ]}
          />
        </Form.Item>
        {mode === 'some' && (
          <Form.Item label={s('answerWho')} htmlFor="sim-answer" style={{ marginBottom: 8 }}>
            <Select id="sim-answer" mode="multiple" value={answer} onChange={setAnswer} options={extensions} />
          </Form.Item>
        )}
        {mode !== 'nobody' && (
          <Form.Item label={s('busy')} htmlFor="sim-busy" style={{ marginBottom: 8 }}>
            <Select id="sim-busy" mode="multiple" value={busy} onChange={setBusy} options={extensions} />
          </Form.Item>
        )}
        <Button type="primary" icon={<CaretRightOutlined />} loading={run.isPending} disabled={!chosen || !at} onClick={() => run.mutate()}>
          {s('run')}
        </Button>
      </Form>
      {run.isError && <ErrorState error={run.error} />}
      {run.data && (
        <Space orientation="vertical" style={{ width: '100%' }} data-testid="simulation">
          <Alert
            type={run.data.status === 'answered' ? 'success' : 'info'}
            showIcon
            title={s('outcome', { outcome: run.data.outcome, status: run.data.status })}
            description={run.data.answered_by != null ? s('answeredBy', { id: run.data.answered_by }) : undefined}
          />
          <Space wrap>
            <Button size="small" icon={<VerticalRightOutlined />} aria-label={s('first')} onClick={() => { setPlaying(false); setIndex(0); }} />
            <Button size="small" icon={<StepBackwardOutlined />} aria-label={s('previous')} disabled={index <= 0} onClick={() => { setPlaying(false); setIndex((i) => Math.max(0, i - 1)); }} />
            <Button size="small" icon={running ? <PauseOutlined /> : <CaretRightOutlined />} aria-label={running ? s('pause') : s('play')} onClick={() => { if (running) { setPlaying(false); return; } if (index >= last) setIndex(0); setPlaying(true); }} />
            <Button size="small" icon={<StepForwardOutlined />} aria-label={s('next')} disabled={index >= last} onClick={() => { setPlaying(false); setIndex((i) => Math.min(last, i + 1)); }} />
            <Button size="small" icon={<VerticalLeftOutlined />} aria-label={s('last')} onClick={() => { setPlaying(false); setIndex(last); }} />
            <Typography.Text data-testid="sim-step">{s('step', { index: Math.min(index, last) + 1, count: frames.length })}</Typography.Text>
          </Space>
          <Slider min={0} max={last} value={Math.min(index, last)} onChange={(value) => { setPlaying(false); setIndex(value); }} tooltip={{ open: false }} />
          <Typography.Text strong>{s('details')}</Typography.Text>
          <ol ref={list} style={{ position: 'relative', paddingLeft: 20, margin: 0, maxHeight: 320, overflowY: 'auto', fontSize: 12 }} aria-label={s('details')}>
            {steps.map((step, i) => (
              <li
                key={i}
                aria-current={i === index ? 'step' : undefined}
                onClick={() => { setPlaying(false); setIndex(i); }}
                style={{ cursor: 'pointer', fontWeight: i === index ? 600 : 400, color: i > index ? '#bfbfbf' : undefined, background: i === index ? '#e6f4ff' : undefined }}
              >
                <span style={{ color: '#8c8c8c' }}>{step.at.slice(11, 19)}</span> {step.text}
              </li>
            ))}
          </ol>
          {frame !== null && frame.node === null && index > 0 && <Typography.Text type="secondary">{s('elsewhere')}</Typography.Text>}
        </Space>
      )}
    </Space>
  );
});
