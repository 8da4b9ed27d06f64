/** SCN-LINT warnings: worded in the user's language, and split by the operation they concern. */
import { Alert, Space } from 'antd';
import { useLintText, type Lint } from './lintText';


export function LintAlerts({ warnings, prefix = false }: { warnings: readonly Lint[]; prefix?: boolean }) {
  const text = useLintText();
  if (warnings.length === 0) return null;
  return (
    <Space orientation="vertical" style={{ width: '100%' }} size={4} data-testid="lint">
      {warnings.map((warning, index) => (
        <Alert
          key={`${warning.code}-${index}`}
          type={warning.severity === 'error' ? 'error' : warning.severity === 'info' ? 'info' : 'warning'}
          showIcon
          title={prefix && warning.operation ? `${warning.operation}: ${text(warning)}` : text(warning)}
          description={warning.code}
        />
      ))}
    </Space>
  );
}
