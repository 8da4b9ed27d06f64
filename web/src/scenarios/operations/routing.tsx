/**
 * The operations that choose a way without ringing: insert another scenario (SCN-INS), ask a CRM
 * (SCN-IVX), distribute by visit number, region or segment (SCN-VISIT, SCN-REGION, SCN-SEGMENT).
 */
import { Checkbox, Col, Input, InputNumber, Row, Select } from 'antd';
import { useTranslation } from 'react-i18next';
import { BranchList } from './branches';
import { Field, FileSelect } from './fields';
import { IVX_PARAMS, requiredNumber } from './model';
import type { OperationProps } from './props';

export function InsertForm({ value, onChange, errors, ctx }: OperationProps<'insert'>) {
  const { t } = useTranslation();
  const id = `${ctx.idPrefix}-scenario_id`;
  const options = ctx.scenarios.filter((s) => s.id !== ctx.scenarioId).map((s) => ({ value: s.id, label: s.name }));
  if (value.scenario_id && !options.some((o) => o.value === value.scenario_id)) options.push({ value: value.scenario_id, label: `#${value.scenario_id}` });
  return (
    <Field id={id} label={t('scenarios.fields.scenario_id')} errors={errors} path="scenario_id" help={t('scenarios.insertHelp')}>
      <Select<number>
        id={id}
        showSearch={{ optionFilterProp: 'label' }}
        value={value.scenario_id || undefined}
        onChange={(scenario_id) => onChange({ ...value, scenario_id })}
        options={options}
      />
    </Field>
  );
}

export function InteractiveForm({ value, onChange, errors, ctx }: OperationProps<'interactive'>) {
  const { t } = useTranslation();
  const id = (name: string) => `${ctx.idPrefix}-${name}`;
  return (
    <Row gutter={12}>
      <Col xs={24} md={16}>
        <Field id={id('url')} label={t('scenarios.fields.url')} errors={errors} path="url">
          <Input id={id('url')} type="url" autoComplete="off" placeholder="https://crm.example.ru/vpbx" value={value.url} onChange={(event) => onChange({ ...value, url: event.target.value })} />
        </Field>
      </Col>
      <Col xs={12} md={4}>
        <Field id={id('method')} label={t('scenarios.fields.method')} errors={errors} path="method">
          <Select id={id('method')} value={value.method} onChange={(method) => onChange({ ...value, method })} options={['GET', 'POST'].map((m) => ({ value: m, label: m }))} />
        </Field>
      </Col>
      <Col xs={12} md={4}>
        <Field id={id('timeout')} label={t('scenarios.fields.crm_timeout')} errors={errors} path="timeout">
          <InputNumber<number> id={id('timeout')} min={0.1} max={30} step={0.5} style={{ width: '100%' }} value={value.timeout} onChange={(next) => onChange({ ...value, timeout: requiredNumber(next) })} />
        </Field>
      </Col>
      <Col xs={24} md={12}>
        <Field id={id('params')} label={t('scenarios.fields.params')} errors={errors} path="params">
          <Select
            id={id('params')}
            mode="multiple"
            value={value.params}
            onChange={(params) => onChange({ ...value, params })}
            options={IVX_PARAMS.map((param) => ({ value: param, label: `${param} — ${t(`scenarios.ivxParams.${param}`)}` }))}
          />
        </Field>
      </Col>
      <Col xs={12} md={6}>
        <Field id={id('dtmf_length')} label={t('scenarios.fields.dtmf_length')} errors={errors} path="dtmf_length" help={t('scenarios.dtmfHelp')}>
          <InputNumber<number> id={id('dtmf_length')} min={1} max={32} precision={0} style={{ width: '100%' }} value={value.dtmf_length ?? null} onChange={(dtmf_length) => onChange({ ...value, dtmf_length })} />
        </Field>
      </Col>
      <Col xs={12} md={6}>
        <Field id={id('prompt_file_id')} label={t('scenarios.fields.prompt_file_id')} errors={errors} path="prompt_file_id">
          <FileSelect id={id('prompt_file_id')} ctx={ctx} value={value.prompt_file_id} onChange={(prompt_file_id) => onChange({ ...value, prompt_file_id })} />
        </Field>
      </Col>
      <Col xs={24}>
        <BranchList
          title={t('scenarios.fields.codes')}
          itemLabel={(index) => t('scenarios.codeN', { index: index + 1 })}
          addLabel={t('scenarios.addCode')}
          value={value.codes}
          onChange={(codes) => onChange({ ...value, codes })}
          errors={errors}
          path="codes"
          self={value.key}
          ctx={ctx}
          fresh={() => ({ code: Math.max(0, ...value.codes.map((c) => c.code + 1)), target: null })}
          renderValue={(branch, set, label, invalid) => (
            <InputNumber<number>
              aria-label={`${label}: ${t('scenarios.code')}`}
              min={0}
              max={9999}
              precision={0}
              status={invalid ? 'error' : undefined}
              value={branch.code}
              onChange={(code) => set({ ...branch, code: requiredNumber(code) })}
            />
          )}
        />
      </Col>
    </Row>
  );
}

export function VisitForm({ value, onChange, errors, ctx }: OperationProps<'visit'>) {
  const { t } = useTranslation();
  const id = (name: string) => `${ctx.idPrefix}-${name}`;
  return (
    <Row gutter={12}>
      <Col xs={24} md={12}>
        <Field id={id('interval_hours')} label={t('scenarios.fields.interval_hours')} errors={errors} path="interval_hours" help={t('scenarios.intervalHelp', { days: Math.round(value.interval_hours / 24) })}>
          <InputNumber<number> id={id('interval_hours')} min={1} max={24 * 365 * 10} precision={0} style={{ width: '100%' }} value={value.interval_hours} onChange={(next) => onChange({ ...value, interval_hours: requiredNumber(next) })} />
        </Field>
      </Col>
      <Col xs={24} md={12}>
        <Field id={id('count_all_communications')} label=" " errors={errors} path="count_all_communications">
          <Checkbox id={id('count_all_communications')} checked={value.count_all_communications} onChange={(event) => onChange({ ...value, count_all_communications: event.target.checked })}>
            {t('scenarios.fields.count_all_communications')}
          </Checkbox>
        </Field>
      </Col>
    </Row>
  );
}

export function RegionForm({ value, onChange, errors, ctx }: OperationProps<'region'>) {
  const { t } = useTranslation();
  return (
    <BranchList
      title={t('scenarios.fields.regions')}
      itemLabel={(index) => t('scenarios.regionN', { index: index + 1 })}
      addLabel={t('scenarios.addRegion')}
      value={value.branches}
      onChange={(branches) => onChange({ ...value, branches })}
      errors={errors}
      path="branches"
      self={value.key}
      ctx={ctx}
      fresh={() => ({ region: '', target: null })}
      renderValue={(branch, set, label, invalid) => (
        <Input
          aria-label={`${label}: ${t('scenarios.region')}`}
          style={{ width: 260 }}
          placeholder={t('scenarios.regionPlaceholder')}
          status={invalid ? 'error' : undefined}
          value={branch.region}
          onChange={(event) => set({ ...branch, region: event.target.value })}
        />
      )}
    />
  );
}

export function SegmentForm({ value, onChange, errors, ctx }: OperationProps<'segment'>) {
  const { t } = useTranslation();
  return (
    <BranchList
      title={t('scenarios.fields.segments')}
      itemLabel={(index) => t('scenarios.segmentN', { index: index + 1 })}
      addLabel={t('scenarios.addSegment')}
      value={value.branches}
      onChange={(branches) => onChange({ ...value, branches })}
      errors={errors}
      path="branches"
      self={value.key}
      ctx={ctx}
      fresh={() => ({ segment_id: 0, target: null })}
      renderValue={(branch, set, label, invalid) => {
        const options = ctx.segments.map((s) => ({ value: s.id, label: s.name }));
        if (branch.segment_id && !options.some((o) => o.value === branch.segment_id)) options.push({ value: branch.segment_id, label: `#${branch.segment_id}` });
        return (
          <Select<number>
            aria-label={`${label}: ${t('scenarios.segment')}`}
            style={{ width: 260 }}
            showSearch={{ optionFilterProp: 'label' }}
            status={invalid ? 'error' : undefined}
            value={branch.segment_id || undefined}
            onChange={(segment_id) => set({ ...branch, segment_id })}
            options={options}
          />
        );
      }}
    />
  );
}
