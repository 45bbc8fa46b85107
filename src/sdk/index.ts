// What consumer and query services embed. Everything here is safe to use without the controller's
// configuration: routes carry the endpoints a client needs.
export { createRoutedConsumer, RoutedConsumer } from './routed-consumer.js';
export type { RoutedConsumerOptions, RoutedMessage, FlipReport, RoutedConsumerStatus } from './routed-consumer.js';
export { createDualProducer, DualProducer, DualSendError } from './dual-producer.js';
export type { DualProducerOptions, DualRecord, SendResult, RoomStats } from './dual-producer.js';
export { createPromSdkMetrics } from '../adapters/system/prom-sdk-metrics.js';
export type { SdkMetrics } from '../ports/sdk-metrics.js';
export { createQueryRouter, QueryRouter, QueryFailedError } from './query-router.js';
export type { QueryRouterOptions } from './query-router.js';
export type { SdkEtcdOptions } from '../adapters/etcd/client.js';
export type { AllowedRooms } from './allow-list.js';
export type { ServerAccess } from '../ports/server-access.js';
export type { KafkaAccess, KafkaAccessBook, KafkaAccessSource, KafkaSaslMechanism } from '../ports/kafka-access.js';
export type { Route, QueryRoute } from '../core/model.js';
export type { Logger } from '../ports/logger.js';
