/**
 * A vertical list reordered by dragging a handle (mouse, touch, or the keyboard: focus the handle,
 * Space to pick up, arrows to move, Space to drop, Escape to cancel), announced to screen
 * readers in the user's language. ↑/↓ buttons beside it stay as the simple fallback.
 */
import { HolderOutlined } from '@ant-design/icons';
import {
  closestCenter,
  DndContext,
  KeyboardSensor,
  PointerSensor,
  useSensor,
  useSensors,
  type Announcements,
  type DragEndEvent,
  type UniqueIdentifier,
} from '@dnd-kit/core';
import { SortableContext, sortableKeyboardCoordinates, useSortable, verticalListSortingStrategy } from '@dnd-kit/sortable';
import { CSS } from '@dnd-kit/utilities';
import { Button } from 'antd';
import type { ReactNode } from 'react';
import { useTranslation } from 'react-i18next';
import { dropMove, type Move } from './reorder';

interface Props<T> {
  /** the items in their current order */
  items: readonly T[];
  /** a stable id of an item (Form.List's field key) */
  idOf: (item: T) => string | number;
  /** the item's name for the handle's label and the announcements ("Телефон 2") */
  labelOf: (index: number) => string;
  onMove: (move: Move) => void;
  disabled?: boolean;
  /** the item at `index`, with its drag handle to place (e.g. beside ↑/↓) */
  children: (item: T, index: number, handle: ReactNode) => ReactNode;
}

export function SortableList<T>({ items, idOf, labelOf, onMove, disabled = false, children }: Props<T>) {
  const { t } = useTranslation();
  const ids = items.map((item) => String(idOf(item)));
  const sensors = useSensors(
    // a few pixels of movement before a drag starts: a click on the handle stays a click
    useSensor(PointerSensor, { activationConstraint: { distance: 5 } }),
    useSensor(KeyboardSensor, { coordinateGetter: sortableKeyboardCoordinates }),
  );
  const position = (id: UniqueIdentifier) => ids.indexOf(String(id)) + 1;
  const name = (id: UniqueIdentifier) => labelOf(position(id) - 1);
  const announcements: Announcements = {
    onDragStart: ({ active }) => t('entity.dragPicked', { name: name(active.id), position: position(active.id), count: ids.length }),
    onDragOver: ({ active, over }) =>
      over ? t('entity.dragOver', { name: name(active.id), position: position(over.id), count: ids.length }) : undefined,
    onDragEnd: ({ active, over }) =>
      over ? t('entity.dragDropped', { name: name(active.id), position: position(over.id), count: ids.length }) : t('entity.dragCancelled'),
    onDragCancel: () => t('entity.dragCancelled'),
  };
  const end = ({ active, over }: DragEndEvent) => {
    const move = dropMove(ids, String(active.id), over === null ? null : String(over.id));
    if (move !== null) onMove(move);
  };
  return (
    <DndContext
      sensors={sensors}
      collisionDetection={closestCenter}
      onDragEnd={end}
      accessibility={{ announcements, screenReaderInstructions: { draggable: t('entity.dragInstructions') } }}
    >
      <SortableContext items={ids} strategy={verticalListSortingStrategy} disabled={disabled}>
        <div style={{ display: 'flex', flexDirection: 'column', gap: 8 }}>
          {items.map((item, index) => (
            <SortableItem key={ids[index]} id={ids[index] ?? ''} label={labelOf(index)} disabled={disabled}>
              {(handle) => children(item, index, handle)}
            </SortableItem>
          ))}
        </div>
      </SortableContext>
    </DndContext>
  );
}

function SortableItem({ id, label, disabled, children }: { id: string; label: string; disabled: boolean; children: (handle: ReactNode) => ReactNode }) {
  const { t } = useTranslation();
  const { attributes, listeners, setNodeRef, setActivatorNodeRef, transform, transition, isDragging } = useSortable({ id, disabled });
  const handle = (
    <Button
      ref={setActivatorNodeRef}
      size="small"
      type="text"
      icon={<HolderOutlined />}
      disabled={disabled}
      style={{ cursor: disabled ? undefined : 'grab', touchAction: 'none' }}
      {...attributes}
      {...listeners}
      aria-label={`${t('entity.dragHandle')} ${label}`}
      data-testid="drag-handle"
    />
  );
  return (
    <div
      ref={setNodeRef}
      style={{
        transform: CSS.Translate.toString(transform),
        transition,
        position: 'relative',
        zIndex: isDragging ? 1 : undefined,
        opacity: isDragging ? 0.85 : undefined,
      }}
    >
      {children(handle)}
    </div>
  );
}
