using PiOrchestrator.Store;

namespace PiOrchestrator.Tests.Evidence;

public class EvidenceNamesTests
{
    [Fact]
    public void Every_capture_tag_has_its_own_name_and_reads_back_as_itself()
    {
        var names = Enum.GetValues<CaptureTag>().Select(EvidenceNames.Of).ToList();
        Assert.Equal(names.Count, names.Distinct().Count());
        foreach (var tag in Enum.GetValues<CaptureTag>())
            Assert.Equal(tag, EvidenceNames.ParseTag(EvidenceNames.Of(tag)));
    }

    [Fact]
    public void A_tag_without_a_name_is_refused_not_mislabelled()
    {
        var unnamed = (CaptureTag)Enum.GetValues<CaptureTag>().Cast<int>().Max() + 1;
        Assert.Throws<ArgumentOutOfRangeException>(() => EvidenceNames.Of(unnamed));
    }
}
