/// What a plugin library says about itself (a Swift copy of `mh_plugin`).
public struct PluginDescriptor: Sendable, Equatable {
    public var id: String
    public var version: String
    public var kind: PluginKind
    public var abiMajor: UInt16
    public var abiMinor: UInt16
    public var toolchain: String
    public var description: String
    /// The resolved path of the library file.
    public var path: String

    public var abi: String { "\(abiMajor).\(abiMinor)" }
}
