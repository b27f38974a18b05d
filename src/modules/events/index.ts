// The events module's door: the project event bus (publish inside a change's transaction,
// subscribe live, replay after an id), shared by every host through Postgres. It serves no
// routes of its own; the projects module streams a project's events to clients.

export type { EventSink, EventsService, EventType, ProjectEvent } from './events.service.ts';
export { createEventsService as createEvents } from './events.service.ts';
