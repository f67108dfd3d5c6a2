using System.Collections.Concurrent;
using System.Device.Gpio;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;
using PiOrchestrator.Doors;
using PiOrchestrator.Hosting;
using PiOrchestrator.Site;
using PiOrchestrator.Tests.Fixtures;

namespace PiOrchestrator.Tests.Doors;

/// <summary>
/// The door source over a real <see cref="GpioController"/> on a <see cref="SimulatedGpioDriver"/> (no GPIO chip can
/// exist on these machines), on a fake clock. The real libgpiod drivers are tested as far as they go without a chip in
/// <see cref="LibGpiodDriverTests"/>.
/// </summary>
public class GpioDoorSourceTests
{
    private const int Line = 17;

    private sealed class CapturingSink : IDoorEventSink
    {
        public ConcurrentQueue<DoorEvent> Events { get; } = new();

        public bool Post(DoorEvent doorEvent)
        {
            Events.Enqueue(doorEvent);
            return true;
        }
    }

    private sealed record Harness(GpioDoorSource Source, CapturingSink Sink, DoorSensorRegistry Registry, LoopHeartbeats Heartbeats, SimulatedGpioDrivers Drivers);

    /// <summary>One container per chip: ctr-001 on gpiochip0, ctr-002 on gpiochip1, …</summary>
    private static Harness Make(ManualTimeProvider time, int containers = 1, Action<DoorSensorOptions>? configure = null)
    {
        var site = new SiteOptions
        {
            Containers = Enumerable.Range(0, containers).Select(i =>
            {
                var door = new DoorSensorOptions { Chip = $"gpiochip{i}", Line = Line, DebounceMs = 50 };
                configure?.Invoke(door);
                return new ContainerOptions { Id = $"ctr-00{i + 1}", CameraId = $"cam-{i}", CameraUrl = "http://127.0.0.1:1", Door = door };
            }).ToList(),
        };
        var sink = new CapturingSink();
        var registry = new DoorSensorRegistry();
        var heartbeats = new LoopHeartbeats(time);
        var drivers = new SimulatedGpioDrivers();
        var source = new GpioDoorSource(Options.Create(site), drivers, sink, registry, heartbeats, time, NullLogger<GpioDoorSource>.Instance);
        return new Harness(source, sink, registry, heartbeats, drivers);
    }

    /// <summary>With ActiveLow (the default) a high line is an open door: the switch's magnet is away.</summary>
    private static PinValue Level(bool open) => open ? PinValue.High : PinValue.Low;

    private static Task Ready(Harness h, string containerId = "ctr-001") =>
        Eventually.UntilAsync(() => h.Registry.Get(containerId)?.State == "ok", TimeSpan.FromSeconds(5), $"{containerId}'s sensor to be ready");

    /// <summary>The edge goes through the controller's callback into the source's channel; waits until the source took it.</summary>
    private static async Task EdgeAsync(Harness h, SimulatedGpioDriver driver, bool open)
    {
        var taken = h.Source.EdgesTaken;
        driver.Edge(Line, Level(open));
        await Eventually.UntilAsync(() => h.Source.EdgesTaken > taken, TimeSpan.FromSeconds(5), "the source to take the edge");
    }

    /// <summary>Waits until the failed loop has begun its wait before the test moves the clock past it.</summary>
    private static Task RetryArmed(ManualTimeProvider time, TimeSpan after) =>
        Eventually.UntilAsync(() => time.HasTimerDueIn(after), TimeSpan.FromSeconds(5), $"the retry in {after.TotalSeconds} s to be set");

    [Fact]
    public async Task A_door_open_at_boot_starts_nothing_and_its_close_is_reported_once_stable()
    {
        var time = new ManualTimeProvider();
        var h = Make(time);
        var driver = new SimulatedGpioDriver(Level(open: true));
        h.Drivers.Add("gpiochip0", driver);
        await h.Source.StartAsync(CancellationToken.None);
        await Ready(h);
        Assert.Equal(1, driver.CallbackCount(Line));
        Assert.Contains("gpio-ctr-001", h.Heartbeats.Loops);

        time.Advance(TimeSpan.FromSeconds(1));
        Assert.Empty(h.Sink.Events);
        await EdgeAsync(h, driver, open: false);
        time.Advance(TimeSpan.FromMilliseconds(50));

        var closed = Assert.Single(h.Sink.Events);
        Assert.Equal((DoorEventKind.Closed, DoorEventSource.Gpio, "ctr-001"), (closed.Kind, closed.Source, closed.ContainerId));
        Assert.Empty(h.Heartbeats.Stalled());
        await h.Source.StopAsync(CancellationToken.None);
        Assert.True(driver.Disposed, "stopping releases the line");
    }

    [Fact]
    public async Task A_flapping_sensor_reports_nothing_until_it_settles_then_one_event()
    {
        var time = new ManualTimeProvider();
        var h = Make(time);
        var driver = new SimulatedGpioDriver(Level(open: false));
        h.Drivers.Add("gpiochip0", driver);
        await h.Source.StartAsync(CancellationToken.None);
        await Ready(h);

        var open = false;
        for (var i = 0; i < 100; i++)
        {
            open = !open;
            await EdgeAsync(h, driver, open);
            time.Advance(TimeSpan.FromMilliseconds(10));
        }
        Assert.Empty(h.Sink.Events);
        await EdgeAsync(h, driver, open: true);
        time.Advance(TimeSpan.FromSeconds(2));

        Assert.Equal(DoorEventKind.Opened, Assert.Single(h.Sink.Events).Kind);
        await h.Source.StopAsync(CancellationToken.None);
    }

    [Fact]
    public async Task A_sensor_that_cannot_open_fails_alone_and_the_others_work()
    {
        var time = new ManualTimeProvider();
        var h = Make(time, containers: 2);
        h.Drivers.Fail("gpiochip0", "gpiochip0 not found (chips: none)");
        var working = new SimulatedGpioDriver(Level(open: false));
        h.Drivers.Add("gpiochip1", working);
        await h.Source.StartAsync(CancellationToken.None);
        await Eventually.UntilAsync(() => h.Registry.Get("ctr-001")?.State == "failed" && h.Registry.Get("ctr-002")?.State == "ok",
            TimeSpan.FromSeconds(5), "both sensors to settle");

        Assert.Equal("gpiochip0 not found (chips: none)", h.Registry.Get("ctr-001")!.Error);
        await EdgeAsync(h, working, open: true);
        time.Advance(TimeSpan.FromMilliseconds(50));
        Assert.Equal("ctr-002", Assert.Single(h.Sink.Events).ContainerId);
        await h.Source.StopAsync(CancellationToken.None);
    }

    [Fact]
    public async Task A_failed_sensor_is_retried_every_minute_and_works_once_its_chip_is_there()
    {
        var time = new ManualTimeProvider();
        var h = Make(time);
        h.Drivers.Fail("gpiochip0", "gpiochip0 not found (chips: none)");
        var driver = new SimulatedGpioDriver(Level(open: false));
        h.Drivers.Add("gpiochip0", driver);
        await h.Source.StartAsync(CancellationToken.None);
        await RetryArmed(time, GpioDoorSource.ReopenEvery);
        Assert.Equal("failed", h.Registry.Get("ctr-001")!.State);
        Assert.Equal(1, h.Drivers.Attempts);
        // The failed loop promises its next beat within the retry interval: the watchdog does not take it for a hang.
        time.Advance(TimeSpan.FromSeconds(59));
        Assert.Empty(h.Heartbeats.Stalled());
        Assert.Equal(1, h.Drivers.Attempts);

        time.Advance(TimeSpan.FromSeconds(1));
        await RetryArmed(time, GpioDoorSource.ReopenEvery);
        Assert.Equal(2, h.Drivers.Attempts);
        Assert.Equal("failed", h.Registry.Get("ctr-001")!.State);

        h.Drivers.Heal("gpiochip0");
        time.Advance(TimeSpan.FromMinutes(1));
        await Ready(h);
        Assert.Equal(3, h.Drivers.Attempts);
        await h.Source.StopAsync(CancellationToken.None);
    }

    [Fact]
    public async Task A_line_held_by_another_program_fails_naming_the_chip_and_line()
    {
        var time = new ManualTimeProvider();
        var h = Make(time);
        var driver = new SimulatedGpioDriver(Level(open: false)) { RefuseCallbacks = true };
        h.Drivers.Add("gpiochip0", driver);
        await h.Source.StartAsync(CancellationToken.None);
        await Eventually.UntilAsync(() => h.Registry.Get("ctr-001")?.State == "failed", TimeSpan.FromSeconds(5), "the sensor to fail");

        Assert.Equal("cannot request gpiochip0 line 17 for edge events (in use by another program?): Device or resource busy", h.Registry.Get("ctr-001")!.Error);
        Assert.True(driver.Disposed, "a failed request releases the driver");
        await h.Source.StopAsync(CancellationToken.None);
    }

    [Fact]
    public async Task A_line_that_cannot_be_read_fails_and_is_reopened()
    {
        var time = new ManualTimeProvider();
        var h = Make(time);
        var driver = new SimulatedGpioDriver(Level(open: false)) { ReadFault = new IOException("Error 5 reading pin 17") };
        h.Drivers.Add("gpiochip0", driver);
        await h.Source.StartAsync(CancellationToken.None);
        await RetryArmed(time, TimeSpan.FromSeconds(5));
        Assert.Equal("failed", h.Registry.Get("ctr-001")!.State);
        Assert.Contains("Error 5 reading pin 17", h.Registry.Get("ctr-001")!.Error);

        driver.ReadFault = null;
        time.Advance(TimeSpan.FromSeconds(5));
        await Ready(h);
        Assert.Equal(2, h.Drivers.Attempts);
        await h.Source.StopAsync(CancellationToken.None);
    }

    [Theory]
    [InlineData("pull-up", PinMode.InputPullUp)]
    [InlineData("pull-down", PinMode.InputPullDown)]
    [InlineData("disable", PinMode.Input)]
    [InlineData("as-is", null)]
    public async Task The_line_is_opened_with_the_configured_bias(string bias, PinMode? mode)
    {
        var time = new ManualTimeProvider();
        var h = Make(time, configure: d => d.Bias = bias);
        var driver = new SimulatedGpioDriver(Level(open: false));
        h.Drivers.Add("gpiochip0", driver);
        await h.Source.StartAsync(CancellationToken.None);
        await Ready(h);

        Assert.Equal(mode, driver.OpenPins[Line]);
        await h.Source.StopAsync(CancellationToken.None);
    }

    [Fact]
    public async Task Without_ActiveLow_a_high_line_is_a_closed_door()
    {
        var time = new ManualTimeProvider();
        var h = Make(time, configure: d => d.ActiveLow = false);
        var driver = new SimulatedGpioDriver(PinValue.High);
        h.Drivers.Add("gpiochip0", driver);
        await h.Source.StartAsync(CancellationToken.None);
        await Ready(h);

        var taken = h.Source.EdgesTaken;
        driver.Edge(Line, PinValue.Low);
        await Eventually.UntilAsync(() => h.Source.EdgesTaken > taken, TimeSpan.FromSeconds(5), "the source to take the edge");
        time.Advance(TimeSpan.FromMilliseconds(50));

        Assert.Equal(DoorEventKind.Opened, Assert.Single(h.Sink.Events).Kind);
        await h.Source.StopAsync(CancellationToken.None);
    }

    [Fact]
    public async Task A_level_change_no_edge_reported_is_taken_after_two_quiet_slices()
    {
        var time = new ManualTimeProvider();
        var h = Make(time);
        var driver = new SimulatedGpioDriver(Level(open: false));
        h.Drivers.Add("gpiochip0", driver);
        await h.Source.StartAsync(CancellationToken.None);
        await Ready(h);

        driver.SilentLevel(Level(open: true));
        var start = time.GetUtcNow();
        await Eventually.UntilAsync(() =>
        {
            time.Advance(TimeSpan.FromMilliseconds(100));
            return !h.Sink.Events.IsEmpty;
        }, TimeSpan.FromSeconds(10), "the level to be taken");

        Assert.Equal(DoorEventKind.Opened, Assert.Single(h.Sink.Events).Kind);
        // Taken on the second quiet slice at the earliest: on the first, an edge may still be on its way.
        Assert.True(time.GetUtcNow() - start >= 2 * GpioDoorSource.WaitSlice, $"taken after {(time.GetUtcNow() - start).TotalMilliseconds} ms");
        await h.Source.StopAsync(CancellationToken.None);
    }
}
