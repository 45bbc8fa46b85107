package io.switchyard.flink;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.List;
import java.util.Map;

import org.apache.flink.api.common.eventtime.WatermarkStrategy;
import org.apache.flink.api.common.functions.OpenContext;
import org.apache.flink.api.common.functions.RichMapFunction;
import org.apache.flink.api.common.serialization.SimpleStringSchema;
import org.apache.flink.api.common.state.ListState;
import org.apache.flink.api.common.state.ListStateDescriptor;
import org.apache.flink.connector.base.DeliveryGuarantee;
import org.apache.flink.connector.kafka.sink.KafkaRecordSerializationSchema;
import org.apache.flink.connector.kafka.sink.KafkaSink;
import org.apache.flink.connector.kafka.source.KafkaSource;
import org.apache.flink.connector.kafka.source.enumerator.initializer.OffsetsInitializer;
import org.apache.flink.runtime.state.FunctionInitializationContext;
import org.apache.flink.runtime.state.FunctionSnapshotContext;
import org.apache.flink.streaming.api.checkpoint.CheckpointedFunction;
import org.apache.flink.streaming.api.environment.StreamExecutionEnvironment;

/**
 * The pipeline's stream job in one room: Kafka topic {@code in} -> "enrich" -> Kafka topic
 * {@code out}, at least once. The enrich step reads fault switches (files in {@code flags}) so
 * that tests can make the job fail, stall its checkpoints or back-pressure on demand:
 * <ul>
 *   <li>{@code poison}: every record and every open() throws, so the job restarts until its
 *       restart strategy gives up and it is FAILED;</li>
 *   <li>{@code slow} (content: ms per record, default 100): back-pressure on the source;</li>
 *   <li>{@code ckstall}: snapshots block while the file exists, so checkpoints expire.</li>
 * </ul>
 * {@link #main} is the entry point when the jar is run through Flink's REST API (a warm start);
 * the room cluster builds the same graph in process for a hot job.
 */
public final class PipelineJob {
    private PipelineJob() {}

    /** Adds the job's operators to {@code env}. */
    public static void define(StreamExecutionEnvironment env, Map<String, String> args) {
        String bootstrap = need(args, "bootstrap");
        KafkaSource<String> source = KafkaSource.<String>builder()
                .setBootstrapServers(bootstrap)
                .setTopics(need(args, "in"))
                .setGroupId(args.getOrDefault("group", "switchyard-flink-" + need(args, "job-name")))
                // A fresh job starts at the beginning; a restored one continues from its checkpoint.
                .setStartingOffsets(OffsetsInitializer.earliest())
                .setValueOnlyDeserializer(new SimpleStringSchema())
                .setProperty("partition.discovery.interval.ms", "5000")
                .build();
        KafkaSink<String> sink = KafkaSink.<String>builder()
                .setBootstrapServers(bootstrap)
                .setRecordSerializer(KafkaRecordSerializationSchema.builder()
                        .setTopic(need(args, "out"))
                        .setValueSerializationSchema(new SimpleStringSchema())
                        .build())
                .setDeliveryGuarantee(DeliveryGuarantee.AT_LEAST_ONCE)
                .build();
        env.fromSource(source, WatermarkStrategy.noWatermarks(), "events-in").uid("events-in")
                .map(new Enrich(need(args, "room"), need(args, "flags"))).name("enrich").uid("enrich")
                // A task of its own, so that a slow enrich shows as back-pressure on the source.
                .startNewChain()
                .sinkTo(sink).name("events-out").uid("events-out");
    }

    /** Run through the REST API: arguments as --key value pairs. */
    public static void main(String[] argv) throws Exception {
        Map<String, String> args = parse(argv);
        StreamExecutionEnvironment env = StreamExecutionEnvironment.getExecutionEnvironment();
        env.enableCheckpointing(Long.parseLong(args.getOrDefault("checkpoint-ms", "2000")));
        env.getCheckpointConfig().setCheckpointTimeout(Long.parseLong(args.getOrDefault("checkpoint-timeout-ms", "10000")));
        env.getCheckpointConfig().setTolerableCheckpointFailureNumber(Integer.MAX_VALUE);
        define(env, args);
        env.execute(need(args, "job-name"));
    }

    static Map<String, String> parse(String[] argv) {
        Map<String, String> out = new HashMap<>();
        for (int i = 0; i + 1 < argv.length; i += 2) {
            if (!argv[i].startsWith("--")) throw new IllegalArgumentException("expected --key value, got " + argv[i]);
            out.put(argv[i].substring(2), argv[i + 1]);
        }
        return out;
    }

    static String need(Map<String, String> args, String key) {
        String v = args.get(key);
        if (v == null || v.isBlank()) throw new IllegalArgumentException("missing --" + key);
        return v;
    }

    /** Tags each record with its room; obeys the fault switches; counts records in operator state. */
    static final class Enrich extends RichMapFunction<String, String> implements CheckpointedFunction {
        private final String room;
        private final String flags;
        private transient long seen;
        private transient ListState<Long> seenState;
        private transient long checkedAt;
        private transient boolean poisoned;
        private transient long slowMs;

        Enrich(String room, String flags) {
            this.room = room;
            this.flags = flags;
        }

        private boolean flag(String name) {
            return Files.exists(Path.of(flags, name));
        }

        /** Re-reads the switches at most every 200 ms: a file check per record would dominate. */
        private void readFlags() {
            long now = System.currentTimeMillis();
            if (now - checkedAt < 200) return;
            checkedAt = now;
            poisoned = flag("poison");
            slowMs = 0;
            if (flag("slow")) {
                slowMs = 100;
                try {
                    String text = Files.readString(Path.of(flags, "slow")).trim();
                    if (!text.isEmpty()) slowMs = Long.parseLong(text);
                } catch (IOException | NumberFormatException e) {
                    // keep the default
                }
            }
        }

        @Override
        public void open(OpenContext context) {
            if (flag("poison")) throw new IllegalStateException("poison switch set in room " + room + " (open)");
        }

        @Override
        public String map(String value) throws Exception {
            readFlags();
            if (poisoned) throw new IllegalStateException("poison switch set in room " + room + " (after " + seen + " records)");
            if (slowMs > 0) Thread.sleep(slowMs);
            seen++;
            return value;
        }

        @Override
        public void snapshotState(FunctionSnapshotContext context) throws Exception {
            long giveUpAt = System.currentTimeMillis() + 300_000;
            while (flag("ckstall") && System.currentTimeMillis() < giveUpAt) Thread.sleep(100);
            seenState.update(List.of(seen));
        }

        @Override
        public void initializeState(FunctionInitializationContext context) throws Exception {
            seenState = context.getOperatorStateStore().getListState(new ListStateDescriptor<>("seen", Long.class));
            seen = 0;
            for (Long n : seenState.get()) seen += n;
        }
    }
}
