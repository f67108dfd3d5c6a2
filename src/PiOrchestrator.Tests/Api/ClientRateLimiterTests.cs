using System.Net;
using Microsoft.Extensions.Options;
using PiOrchestrator.Http;

namespace PiOrchestrator.Tests.Api;

/// <summary>The per-address token bucket on a clock the test moves (the process test in ApiAccessTests covers the 429 answer).</summary>
public sealed class ClientRateLimiterTests
{
    /// <summary>Timestamps in milliseconds that move only when told.</summary>
    private sealed class SteppedClock : TimeProvider
    {
        public long Milliseconds { get; set; } = 1_000_000;
        public override long GetTimestamp() => Milliseconds;
        public override long TimestampFrequency => 1000;
    }

    private static ClientRateLimiter Limiter(SteppedClock clock, int perSecond, int burst) =>
        new(Options.Create(new ApiOptions { RateLimitPerSecond = perSecond, RateLimitBurst = burst }), clock);

    private static readonly IPAddress Dashboard = IPAddress.Parse("192.168.1.20");
    private static readonly IPAddress Other = IPAddress.Parse("192.168.1.21");

    [Fact]
    public void A_client_gets_its_burst_then_waits_for_the_rate_while_others_are_served()
    {
        var clock = new SteppedClock();
        var limiter = Limiter(clock, perSecond: 2, burst: 3);

        for (var i = 0; i < 3; i++) Assert.True(limiter.TryAcquire(Dashboard, out _));
        Assert.False(limiter.TryAcquire(Dashboard, out var retryAfter));
        Assert.Equal(TimeSpan.FromSeconds(1), retryAfter); // half a second to the next token, rounded up to whole seconds
        Assert.True(limiter.TryAcquire(Other, out _));

        clock.Milliseconds += 499;
        Assert.False(limiter.TryAcquire(Dashboard, out _));
        clock.Milliseconds += 1;
        Assert.True(limiter.TryAcquire(Dashboard, out _));
        Assert.False(limiter.TryAcquire(Dashboard, out _));
    }

    [Fact]
    public void Retry_after_counts_the_seconds_to_the_next_token()
    {
        var clock = new SteppedClock();
        var limiter = Limiter(clock, perSecond: 1, burst: 1);
        Assert.True(limiter.TryAcquire(Dashboard, out _));
        clock.Milliseconds += 200;
        Assert.False(limiter.TryAcquire(Dashboard, out var retryAfter));
        Assert.Equal(TimeSpan.FromSeconds(1), retryAfter);

        // A bucket never holds more than its burst, however long the client was away.
        clock.Milliseconds += 3_600_000;
        Assert.True(limiter.TryAcquire(Dashboard, out _));
        Assert.False(limiter.TryAcquire(Dashboard, out _));
    }

    [Fact]
    public void A_rate_of_zero_turns_the_limit_off()
    {
        var limiter = Limiter(new SteppedClock(), perSecond: 0, burst: 1);
        for (var i = 0; i < 1000; i++) Assert.True(limiter.TryAcquire(Dashboard, out _));
        Assert.Equal(0, limiter.TrackedClients);
    }

    [Fact]
    public void Many_addresses_do_not_grow_the_table_without_bound()
    {
        var clock = new SteppedClock();
        var limiter = Limiter(clock, perSecond: 10, burst: 20);
        var count = ClientRateLimiter.SweepAboveClients + 100;
        for (var i = 0; i < count; i++)
            Assert.True(limiter.TryAcquire(new IPAddress(0x0A000000u + (uint)i), out _));
        Assert.Equal(count, limiter.TrackedClients);

        // Once their buckets have refilled they are no different from new clients, and a newcomer sweeps them
        // (a crowded table is swept at most once a second).
        clock.Milliseconds += 1000;
        Assert.True(limiter.TryAcquire(Dashboard, out _));
        Assert.Equal(1, limiter.TrackedClients);
    }

    [Fact]
    public void A_sweep_keeps_clients_that_are_still_being_limited()
    {
        var clock = new SteppedClock();
        var limiter = Limiter(clock, perSecond: 1, burst: 2);
        Assert.True(limiter.TryAcquire(Dashboard, out _));
        Assert.True(limiter.TryAcquire(Dashboard, out _));
        Assert.True(limiter.TryAcquire(Other, out _));

        // The periodic sweep runs at the first request after 30 s; by then both buckets are full again...
        clock.Milliseconds += 31_000;
        Assert.True(limiter.TryAcquire(Dashboard, out _));
        Assert.Equal(1, limiter.TrackedClients);
        // ...and the client that just asked keeps its (now partly used) bucket.
        Assert.True(limiter.TryAcquire(Dashboard, out _));
        Assert.False(limiter.TryAcquire(Dashboard, out _));
    }
}
