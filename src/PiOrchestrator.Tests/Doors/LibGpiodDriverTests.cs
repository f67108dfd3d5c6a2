using System.Device.Gpio;
using PiOrchestrator.Doors;
using PiOrchestrator.Native;
using PiOrchestrator.Tests.Fixtures;

namespace PiOrchestrator.Tests.Doors;

/// <summary>
/// The driver choice, and System.Device.Gpio's real libgpiod drivers as far as they go on a machine without a GPIO
/// chip: these machines have libgpiod 1 (Debian libgpiod2) and no /dev/gpiochip*.
/// </summary>
public class LibGpiodDriverTests
{
    private static Func<string, bool> Loads(params string[] libraries) => library => libraries.Contains(library);

    [Fact]
    public void Libgpiod_2_is_chosen_where_libgpiod_so_3_loads()
    {
        Assert.True(LibGpiodDriverFactory.TryChoose(Loads("libgpiod.so.3", "libgpiod.so.2"), "trixie", out var version, out _));
        Assert.Equal(LibGpiodVersion.V2, version);
    }

    [Fact]
    public void Libgpiod_1_is_chosen_where_libgpiod_so_3_is_absent()
    {
        Assert.True(LibGpiodDriverFactory.TryChoose(Loads("libgpiod.so.2"), "bookworm", out var version, out _));
        Assert.Equal(LibGpiodVersion.V1, version);
    }

    [Theory]
    [InlineData("trixie", "install the Debian package libgpiod3 (apt-get install libgpiod3)")]
    [InlineData("bookworm", "install the Debian package libgpiod2 (apt-get install libgpiod2)")]
    [InlineData(null, "install the Debian package libgpiod3 (Debian 13 trixie) or libgpiod2 (Debian 12 bookworm)")]
    public void Without_either_library_the_reason_names_the_Debian_package(string? codename, string install)
    {
        Assert.False(LibGpiodDriverFactory.TryChoose(Loads(), codename, out _, out var error));
        Assert.Equal($"libgpiod cannot be loaded (neither libgpiod.so.3 nor libgpiod.so.2): {install}", error);
    }

    [Fact]
    public void This_machine_has_libgpiod_1_only_and_gets_the_libgpiod_1_driver()
    {
        Assert.True(NativeLibraries.CanLoad("libgpiod.so.2"), "libgpiod2 is installed by scripts/test.sh");
        Assert.False(NativeLibraries.CanLoad("libgpiod.so.3"), "this machine is bookworm: no libgpiod3");
        Assert.True(LibGpiodDriverFactory.TryChoose(NativeLibraries.CanLoad, LibGpiodDriverFactory.OsCodename(), out var version, out var error), error);
        Assert.Equal(LibGpiodVersion.V1, version);
    }

    [Fact]
    public void A_chip_that_is_not_there_is_a_failure_naming_it_not_a_missing_library()
    {
        Assert.Empty(Directory.GetFiles("/dev", "gpiochip*"));
        var factory = new LibGpiodDriverFactory();

        Assert.False(factory.TryOpen("gpiochip0", out var driver, out var error));
        Assert.Null(driver);
        Assert.Equal("gpiochip0 not found (chips: none)", error);
    }

    [Fact]
    public void The_real_libgpiod_1_driver_lists_no_chips_here_and_fails_clearly_on_a_chip_number_that_is_not_there()
    {
        Assert.True(LibGpiodDriverFactory.TryListChips(LibGpiodVersion.V1, out var chips, out var listError), listError);
        Assert.Empty(chips);

        Assert.False(LibGpiodDriverFactory.TryCreate(LibGpiodVersion.V1, 9, "gpiochip9", out var driver, out var error));
        Assert.Null(driver);
        Assert.StartsWith("cannot open GPIO chip gpiochip9: ", error);
        Assert.Contains("No such file or directory", error);
    }

    [Fact]
    public void The_libgpiod_2_driver_without_libgpiod_so_3_fails_with_a_reason_and_no_crash()
    {
        Assert.False(NativeLibraries.CanLoad("libgpiod.so.3"));

        Assert.False(LibGpiodDriverFactory.TryCreate(LibGpiodVersion.V2, 0, "gpiochip0", out var driver, out var error));
        Assert.Null(driver);
        Assert.StartsWith("cannot open GPIO chip gpiochip0: ", error);
        Assert.Contains("libgpiod.so.3", error);
    }

    /// <summary>libgpiod 1 would hand System.Device.Gpio a NULL chip iterator for these, which crashes the process.</summary>
    [Theory]
    [InlineData("gpiochip1", "cannot open {dev}/gpiochip1: ")]
    [InlineData("gpiochip2", "{dev}/gpiochip2 is not a GPIO chip (no {sys}/gpiochip2)")]
    public void A_chip_node_libgpiod_1_cannot_open_is_named_before_it_lists_the_chips(string bad, string expected)
    {
        using var dev = new TempDirectory();
        using var sys = new TempDirectory();
        File.WriteAllText(Path.Combine(dev.Path, "gpiochip0"), "");
        Directory.CreateDirectory(Path.Combine(sys.Path, "gpiochip0"));
        if (bad == "gpiochip1") File.CreateSymbolicLink(Path.Combine(dev.Path, bad), Path.Combine(dev.Path, "gone"));
        else File.WriteAllText(Path.Combine(dev.Path, bad), "");
        Assert.False(LibGpiodDriverFactory.TryOpenEveryChip(dev.Path, sys.Path, out var error));
        Assert.StartsWith(expected.Replace("{dev}", dev.Path).Replace("{sys}", sys.Path), error);
    }

    [Fact]
    public void Chip_nodes_libgpiod_1_can_open_pass_the_check()
    {
        using var dev = new TempDirectory();
        using var sys = new TempDirectory();
        File.WriteAllText(Path.Combine(dev.Path, "gpiochip0"), "");
        File.CreateSymbolicLink(Path.Combine(dev.Path, "gpiochip4"), "gpiochip0");
        Directory.CreateDirectory(Path.Combine(sys.Path, "gpiochip0"));

        Assert.True(LibGpiodDriverFactory.TryOpenEveryChip(dev.Path, sys.Path, out var error), error);
    }

    [Theory]
    [InlineData("gpiochip0", 0)]
    [InlineData("/dev/gpiochip0", 0)]
    [InlineData("gpiochip4", 0)]
    [InlineData("pinctrl-rp1", 0)]
    [InlineData("gpiochip10", 10)]
    public void The_configured_chip_maps_to_the_driver_chip_id(string configured, int id)
    {
        using var dev = new TempDirectory();
        File.WriteAllText(Path.Combine(dev.Path, "gpiochip0"), "");
        // A Pi 5 on a newer kernel: gpiochip4 links to gpiochip0, which libgpiod 1 lists once, as gpiochip0.
        File.CreateSymbolicLink(Path.Combine(dev.Path, "gpiochip4"), "gpiochip0");
        GpioChipInfo[] chips = [new(0, "gpiochip0", "pinctrl-rp1", 54), new(10, "gpiochip10", "rp1-gpio-extra", 4)];

        Assert.True(LibGpiodDriverFactory.TryFindChip(chips, configured, dev.Path, out var found, out var error), error);
        Assert.Equal(id, found);
    }

    [Fact]
    public void An_unknown_chip_is_not_found_and_the_chips_there_are_listed()
    {
        using var dev = new TempDirectory();
        GpioChipInfo[] chips = [new(0, "gpiochip0", "pinctrl-bcm2711", 58), new(1, "gpiochip1", "raspberrypi-exp-gpio", 8)];

        Assert.False(LibGpiodDriverFactory.TryFindChip(chips, "gpiochip9", dev.Path, out _, out var error));
        Assert.Equal("gpiochip9 not found (chips: gpiochip0 [pinctrl-bcm2711], gpiochip1 [raspberrypi-exp-gpio])", error);
    }
}
