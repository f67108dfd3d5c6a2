using PiOrchestrator.Evidence;
using PiOrchestrator.Hosting;
using PiOrchestrator.Mqtt;
using PiOrchestrator.Upload;
using Polly;

namespace PiOrchestrator.Tests.Hosting;

/// <summary>
/// One backoff for everything that waits on something away: the MQTT reconnect, the uploader's passes and objects, and
/// the time-stamp retry. Polly's retries wait what <see cref="Backoff.Delay"/> gives, each loop keeps its bounds.
/// </summary>
public sealed class BackoffTests
{
    private static TimeSpan Ms(double ms) => TimeSpan.FromMilliseconds(ms);

    [Fact]
    public async Task Polly_retries_wait_the_delays_a_stored_retry_is_given()
    {
        var backoff = new Backoff(Ms(1), Ms(8));
        var waited = new List<TimeSpan>();
        var pipeline = new ResiliencePipelineBuilder<bool>()
            .AddRetry(backoff.Forever<bool>(args => ValueTask.FromResult(!args.Outcome.Result), args =>
            {
                waited.Add(args.RetryDelay);
                return ValueTask.CompletedTask;
            }))
            .Build();

        var attempts = 0;
        Assert.True(await pipeline.ExecuteAsync(_ => ValueTask.FromResult(++attempts == 7)));

        Assert.Equal([Ms(1), Ms(2), Ms(4), Ms(8), Ms(8), Ms(8)], waited);
        Assert.Equal(waited, Enumerable.Range(0, 6).Select(backoff.Delay));
    }

    [Fact]
    public void Jitter_takes_at_most_a_quarter_off_a_stored_retry()
    {
        var backoff = new Backoff(TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(300), Jitter: true);
        for (var failures = 0; failures < 40; failures++)
        {
            var nominal = Math.Min(300, Math.Pow(2, failures));
            var delay = backoff.Delay(failures).TotalSeconds;
            Assert.InRange(delay, nominal * 0.75, nominal);
        }
    }

    [Fact]
    public void Each_loop_keeps_its_bounds()
    {
        var mqtt = MqttConnection.Reconnect(new MqttOptions { ReconnectMaxSeconds = 30 });
        Assert.Equal([1, 2, 4, 8, 16, 30, 30], Enumerable.Range(0, 7).Select(n => mqtt.Delay(n).TotalSeconds));
        Assert.False(mqtt.Jitter);

        var passes = Uploader.PassBackoff(new S3Options { RetryBaseDelayMs = 1000 });
        Assert.Equal([1, 2, 4, 128, 256, 300, 300], new[] { 0, 1, 2, 7, 8, 9, 5000 }.Select(n => passes.Delay(n).TotalSeconds));
        Assert.False(passes.Jitter);

        var tsa = TimestampService.Retry(new TsaOptions { RetryMaxSeconds = 300 });
        Assert.Equal((TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(300), true), (tsa.First, tsa.Max, tsa.Jitter));
        Assert.InRange(tsa.Delay(100).TotalSeconds, 225, 300);
    }
}
