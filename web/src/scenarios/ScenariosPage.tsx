import { useTranslation } from 'react-i18next';
import { EntityList } from '../entities/EntityList';
import { deleteScenario, useScenarios, type ScenarioOut } from './api';

export default function ScenariosPage() {
  const { t } = useTranslation();
  return (
    <EntityList<ScenarioOut>
      resource="scenarios"
      title={t('scenarios.title')}
      newLabel={t('scenarios.new')}
      searchPlaceholder={t('scenarios.searchPlaceholder')}
      sortable={['name']}
      defaultSort="name"
      useList={useScenarios}
      nameOf={(row) => row.name}
      remove={deleteScenario}
      columns={[
        { title: t('scenarios.name'), dataIndex: 'name' },
        { title: t('scenarios.entry'), dataIndex: 'entry' },
        {
          title: t('scenarios.operations'),
          key: 'operations',
          render: (_v: unknown, row: ScenarioOut) => t('scenarios.operationCount', { count: row.operations.length }),
        },
      ]}
    />
  );
}
