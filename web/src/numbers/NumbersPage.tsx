import { Tag } from 'antd';
import { useTranslation } from 'react-i18next';
import { EntityList } from '../entities/EntityList';
import { deleteNumber, useNumbers, type VirtualNumberOut } from './api';

export default function NumbersPage() {
  const { t } = useTranslation();
  return (
    <EntityList<VirtualNumberOut>
      resource="numbers"
      title={t('numbers.title')}
      newLabel={t('numbers.new')}
      searchPlaceholder={t('numbers.searchPlaceholder')}
      sortable={['number', 'name', 'kind']}
      defaultSort="number"
      useList={useNumbers}
      nameOf={(row) => row.number}
      remove={deleteNumber}
      columns={[
        { title: t('numbers.number'), dataIndex: 'number' },
        { title: t('numbers.name'), dataIndex: 'name' },
        {
          title: t('numbers.kind'),
          dataIndex: 'kind',
          render: (kind: 'pbx' | 'analytics') => <Tag>{t(`numbers.kinds.${kind}`)}</Tag>,
        },
        {
          title: t('numbers.rules'),
          key: 'rules',
          render: (_v: unknown, row: VirtualNumberOut) => t('numbers.ruleCount', { count: row.rules.length }),
        },
      ]}
    />
  );
}
