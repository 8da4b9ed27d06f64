import { useTranslation } from 'react-i18next';
import { EntityList } from '../entities/EntityList';
import { deleteSchedule, useSchedules, type ScheduleOut } from './api';

export default function SchedulesPage() {
  const { t } = useTranslation();
  return (
    <EntityList<ScheduleOut>
      resource="schedules"
      title={t('schedules.title')}
      newLabel={t('schedules.new')}
      searchPlaceholder={t('schedules.searchPlaceholder')}
      sortable={['name', 'kind']}
      defaultSort="name"
      useList={useSchedules}
      nameOf={(row) => row.name}
      remove={deleteSchedule}
      columns={[
        { title: t('schedules.name'), dataIndex: 'name' },
        { title: t('schedules.kind'), dataIndex: 'kind', render: (kind: ScheduleOut['kind']) => t(`schedules.kinds.${kind}`) },
        {
          title: t('schedules.calendar'),
          dataIndex: 'use_production_calendar',
          render: (value: boolean) => (value ? t('common.yes') : t('common.no')),
        },
      ]}
    />
  );
}
