package broker

import (
	"github.com/IBM/sarama"
	"github.com/twmb/franz-go/pkg/kgo"
)

// NewKafkaPartitioner is a sarama.PartitionerConstructor that places a keyed
// record where Kafka's Java producer, and so a KafkaSink, does (murmur2 of
// the key; sarama's own uses FNV-1a), so a user's purchases share one
// partition whoever produces them. The hash is franz-go's
// StickyKeyPartitioner, which mirrors Kafka's BuiltInPartitioner. A record
// without a key goes to a random partition.
func NewKafkaPartitioner(topic string) sarama.Partitioner {
	return &kafkaPartitioner{
		keyed:  kgo.StickyKeyPartitioner(nil).ForTopic(topic),
		random: sarama.NewRandomPartitioner(topic),
	}
}

type kafkaPartitioner struct {
	keyed  kgo.TopicPartitioner
	random sarama.Partitioner
}

// Partition implements sarama.Partitioner.
func (p *kafkaPartitioner) Partition(msg *sarama.ProducerMessage, numPartitions int32) (int32, error) {
	if msg.Key == nil {
		return p.random.Partition(msg, numPartitions)
	}
	key, err := msg.Key.Encode()
	if err != nil {
		return -1, err
	}
	return int32(p.keyed.Partition(&kgo.Record{Key: key}, int(numPartitions))), nil
}

// RequiresConsistency implements sarama.Partitioner: a keyed record waits
// for its partition rather than go elsewhere.
func (p *kafkaPartitioner) RequiresConsistency() bool { return true }

// MessageRequiresConsistency implements sarama.DynamicConsistencyPartitioner:
// only keyed records are bound to their partition.
func (p *kafkaPartitioner) MessageRequiresConsistency(msg *sarama.ProducerMessage) bool {
	return msg.Key != nil
}
