import { DeleteOutlined } from '@ant-design/icons';
import { App, Button, Popconfirm } from 'antd';
import { useTranslation } from 'react-i18next';
import { usagesOf } from './versioned';

/**
 * Delete with a confirmation; a 409 from the API (ACC-4: the entity is used elsewhere) lists
 * every place that uses it.
 */
export function DeleteButton({
  name,
  remove,
  onDeleted,
}: {
  name: string;
  remove: () => Promise<unknown>;
  onDeleted?: () => void;
}) {
  const { t } = useTranslation();
  const { message, modal } = App.useApp();
  const run = async (): Promise<void> => {
    try {
      await remove();
      void message.success(t('entity.deleted'));
      onDeleted?.();
    } catch (error) {
      const usages = usagesOf(error);
      if (usages === null) {
        void message.error(error instanceof Error ? error.message : String(error));
        return;
      }
      modal.error({
        title: t('entity.inUse'),
        content: (
          <div>
            <div>{t('entity.usedBy')}:</div>
            <ul aria-label={t('entity.usedBy')}>
              {usages.map((usage) => (
                <li key={usage}>{usage}</li>
              ))}
            </ul>
          </div>
        ),
      });
    }
  };
  return (
    <Popconfirm
      title={t('entity.deleteConfirm', { name })}
      okText={t('entity.delete')}
      cancelText={t('common.cancel')}
      onConfirm={() => void run()}
    >
      <Button danger size="small" icon={<DeleteOutlined />} aria-label={`${t('entity.delete')} ${name}`}>
        {t('entity.delete')}
      </Button>
    </Popconfirm>
  );
}
