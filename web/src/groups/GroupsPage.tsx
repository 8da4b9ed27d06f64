import { useTranslation } from 'react-i18next';
import { EntityList } from '../entities/EntityList';
import { deleteGroup, useGroups, type GroupOut } from './api';

export default function GroupsPage() {
  const { t } = useTranslation();
  return (
    <EntityList<GroupOut>
      resource="groups"
      title={t('groups.title')}
      newLabel={t('groups.new')}
      searchPlaceholder={t('groups.searchPlaceholder')}
      sortable={['name', 'extension', 'simultaneous_lines']}
      defaultSort="name"
      useList={useGroups}
      nameOf={(row) => row.name}
      remove={deleteGroup}
      columns={[
        { title: t('groups.name'), dataIndex: 'name' },
        { title: t('groups.extension'), dataIndex: 'extension' },
        {
          title: t('groups.members'),
          key: 'members',
          render: (_value: unknown, row: GroupOut) => t('groups.memberCount', { count: row.member_ids.length }),
        },
        { title: t('groups.linesShort'), dataIndex: 'simultaneous_lines' },
      ]}
    />
  );
}
