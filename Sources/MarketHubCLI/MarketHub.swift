import ArgumentParser

@main
struct MarketHub: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "markethub",
        abstract: "A self-hosted market-data hub for options trading, built from plugins.",
        subcommands: [
            ServeCommand.self, CheckConfigCommand.self, PluginsCommand.self, SynthCommand.self, RecordCommand.self,
        ],
        defaultSubcommand: ServeCommand.self
    )
}
