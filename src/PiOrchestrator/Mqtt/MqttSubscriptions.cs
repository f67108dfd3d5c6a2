using MQTTnet;

namespace PiOrchestrator.Mqtt;

/// <summary>
/// The rule between subscriptions: no topic may match two of them. A message is acknowledged once, by the one
/// handler it goes to, so two handlers for one topic could not both hold its acknowledgement; filters that can
/// overlap are refused when the agent starts, not found out when one of them silently gets nothing.
/// </summary>
public static class MqttSubscriptions
{
    /// <summary>Throws naming the first two filters that some topic would match both of.</summary>
    public static IMqttSubscription[] Disjoint(IEnumerable<IMqttSubscription> subscriptions)
    {
        var all = subscriptions.ToArray();
        for (var i = 0; i < all.Length; i++)
        for (var j = i + 1; j < all.Length; j++)
            if (CanOverlap(all[i].TopicFilter, all[j].TopicFilter))
                throw new InvalidOperationException(
                    $"MQTT subscriptions '{all[i].TopicFilter}' and '{all[j].TopicFilter}' can match the same topic: each topic must have one handler");
        return all;
    }

    /// <summary>The subscription whose filter matches <paramref name="topic"/> (MQTTnet's matcher), or null.</summary>
    public static IMqttSubscription? For(IMqttSubscription[] subscriptions, string topic)
    {
        foreach (var subscription in subscriptions)
            if (MqttTopicFilterComparer.Compare(topic, subscription.TopicFilter) == MqttTopicFilterCompareResult.IsMatch) return subscription;
        return null;
    }

    /// <summary>Whether any topic matches both filters: level by level, + matches any one level, # the rest (and its parent).</summary>
    public static bool CanOverlap(string first, string second)
    {
        var a = first.Split('/');
        var b = second.Split('/');
        for (var i = 0; ; i++)
        {
            // "#" matches the rest, its parent level included ("a/#" matches "a").
            if ((i < a.Length && a[i] == "#") || (i < b.Length && b[i] == "#")) return true;
            if (i == a.Length || i == b.Length) return a.Length == b.Length;
            if (a[i] != "+" && b[i] != "+" && a[i] != b[i]) return false;
        }
    }
}
