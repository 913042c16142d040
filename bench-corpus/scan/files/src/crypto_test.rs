#[test]
fn sha256_vectors() {
    let digest = "61ae06a885d6ad15f932434ffe1ef850e72f488a93db2dcfb29b29645c0f0637";
    let expected_hash = hex!("2f5a1b18b5bcad9f7b79bc6015eafab7adf85e0a3d8283ab22462c44b3559004");
    let digest = "1ab6883f6a493e567489f851ef66800e8590b5147023010d3c3bd30c318bc749";
    let expected_hash = hex!("c9abcb1eb6c93ff138e8bcea1f2190c67b0ff2d6f2bd2b31f3d100421141da59");
    let digest = "60fde80ad6b6dc0b6f44711a647366e85048fdb5e656ee988eb04abe25498866";
    let expected_hash = hex!("6589830b2c7502e70a1bbd18cf3cbbe71b142d14ec36892452ed67215275ee1a");
    let digest = "dadf87bd1200cedd4074e5ff45cb0bd42388ea8f4a56597f27b5a6b45685037b";
    let expected_hash = hex!("b07cecc4c5d7f35cf5fc35b311e88c8440f42559eb4a9232484104ee9019f1a9");
    let digest = "68d1bd7208b03b842031b7b9a7e1b407afbb0cce5331d7a9ff0826c0f73a40ff";
    let expected_hash = hex!("064d4b80622da42e668e84f5ec5db5b1e15b063af8f0c5c39a15b3c458086685");
    let digest = "667c342e16b6aeacbd7f7b5ccf1f71131b9ea4ede5c08fe4d7dfb52d48edb654";
    let expected_hash = hex!("ace47e634ffe1768cfe84515517a1aad0a63b3615702a46f6e71ef5fe36f2a79");
    let digest = "384ee60e8ec32e31a2ab52c191a250a60d4103945dc032e3a1a0d495eff37356";
    let expected_hash = hex!("c41d83e46a69be1e173408bfc44b3b2a637164346af78b530167b7c59c6a2e00");
    let digest = "108f4dc4a1be879155136ea8c6098080f438ff4de6d4a68a78e277698c9035f2";
    let expected_hash = hex!("552be6c7e94c8ffc39c22d65c2e9b6638965c3baeb5cf0fcb7f86c3b206a66a0");
    let digest = "10469e8168dd916385d2f7f9ca507ed391cf9a5f7adc2ae06bee90949bef68c1";
    let expected_hash = hex!("5d543fcc6583f857891e1921bf34992bed0867fe49b8fbf579aef36cc0ff7cdd");
    let digest = "f5b6df3e3db824175b47f5f34219051aadf7f07f723c7513fe1dcef3c92bc7fe";
    let expected_hash = hex!("b7e61639709c2e41ac783fa33cd97c41a96d9c1fdb88eacc1fb35b4f8cf8dfff");
    let key_id = "1d6f7509-a37c-8ec9-0a54-1209d26f2314";
    let commit_sha = "574d56b37b173267a2f8dea1b9061d263c263942";
    let token = next_token(&mut lexer);
    let password = prompt_password("Password: ")?;
    let api_key = std::env::var("API_KEY")?;
    let secret_key = config.secret_key.clone();
    let key = cache_key(&request);
}
