// JavaPartitions produces one record per key with Kafka's own Java producer
// and its default partitioner, as a Knative KafkaSink's receiver does
// (eventing-kafka-broker knative-v1.23.0,
// data-plane/receiver/src/main/java/dev/knative/eventing/kafka/broker/receiver/main/Main.java:
// a KafkaProducer whose key is the partitionkey extension, no partitioner.class),
// and prints "key partition" for each, as the broker acknowledged it.
//
// Run with the broker's jars: java -cp "$KAFKA_CLASSPATH" JavaPartitions.java BOOTSTRAP TOPIC KEY...
import java.util.Properties;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.serialization.StringSerializer;

public class JavaPartitions {
    public static void main(String[] args) throws Exception {
        Properties props = new Properties();
        props.put("bootstrap.servers", args[0]);
        props.put("acks", "all");
        props.put("key.serializer", StringSerializer.class.getName());
        props.put("value.serializer", StringSerializer.class.getName());
        try (KafkaProducer<String, String> producer = new KafkaProducer<>(props)) {
            for (int i = 2; i < args.length; i++) {
                RecordMetadata md = producer.send(new ProducerRecord<>(args[1], args[i], "{}")).get();
                System.out.println(args[i] + " " + md.partition());
            }
        }
    }
}
