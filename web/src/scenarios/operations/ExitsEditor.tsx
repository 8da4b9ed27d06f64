import { Col, Row, Typography } from 'antd';
import { useTranslation } from 'react-i18next';
import type { OperationContext } from './context';
import { ExitSelect, Field } from './fields';
import { useExitLabel } from './labels';
import { EXITS, type Operation } from './model';
import type { FieldErrors } from './validate';

/** The named exits of an operation, each a select of the scenario's other operations. */
export function ExitsEditor({
  value,
  onChange,
  errors,
  ctx,
}: {
  value: Operation;
  onChange: (value: Operation) => void;
  errors: FieldErrors;
  ctx: OperationContext;
}) {
  const { t } = useTranslation();
  const exitLabel = useExitLabel();
  const names = EXITS[value.kind];
  if (names.length === 0) return null;
  const setExit = (name: string, target: string | null) => {
    // an unlinked exit is left out (as the API's default has it), not sent as null
    const entries = Object.entries(value.exits);
    const next =
      target === null
        ? entries.filter(([other]) => other !== name)
        : name in value.exits
          ? entries.map(([other, was]) => [other, other === name ? target : was])
          : [...entries, [name, target]];
    onChange({ ...value, exits: Object.fromEntries(next) as Operation['exits'] });
  };
  return (
    <section aria-label={t('scenarios.exits')}>
      <Typography.Text strong>{t('scenarios.exits')}</Typography.Text>
      <Row gutter={12}>
        {names.map((name) => {
          const id = `${ctx.idPrefix}-exit-${name}`;
          return (
            <Col key={name} xs={12} md={value.kind === 'menu' ? 6 : 12}>
              <Field id={id} label={exitLabel(name)} errors={errors} path={`exits.${name}`}>
                <ExitSelect
                  id={id}
                  value={value.exits[name]}
                  onChange={(target) => setExit(name, target)}
                  self={value.key}
                  ctx={ctx}
                  accept={
                    value.kind === 'menu' && name === 'extension_input'
                      ? (op) => op.kind === 'extension' && op.from_menu
                      : undefined
                  }
                />
              </Field>
            </Col>
          );
        })}
      </Row>
    </section>
  );
}
